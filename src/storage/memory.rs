//! A storage in memory, for tests: the rules above storage (never
//! overwrite, a backup is its data and its manifest, retention over a
//! listing) run against it without an S3 server. Faults are injected by
//! operation and key; a fault may strike before the operation or after it
//! was applied (the store did it, its answer was lost).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::{ObjectInfo, ObjectReader, Storage, StorageError, Upload};

/// The operations a fault can strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Exists,
    List,
    Get,
    Put,
    /// One chunk of a streaming upload.
    Write,
    /// The commit of a streaming upload.
    Finish,
    Delete,
}

#[derive(Debug, Clone)]
struct Fault {
    op: Op,
    /// Strikes keys containing this text (empty: every key).
    key_contains: String,
    /// The operation takes effect, then fails.
    after_applying: bool,
    /// How many more times it strikes; None: every time.
    remaining: Option<u32>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Bytes>,
    faults: Vec<Fault>,
}

/// Objects in a map behind a lock.
pub struct MemoryStorage {
    prefix: String,
    inner: Arc<Inner>,
}

/// What the storage and its uploads share.
struct Inner {
    name: String,
    state: Mutex<State>,
}

impl MemoryStorage {
    /// An empty storage called `name` whose keys start with `prefix`.
    pub fn new(name: &str, prefix: &str) -> MemoryStorage {
        MemoryStorage {
            prefix: prefix.trim_matches('/').to_string(),
            inner: Arc::new(Inner {
                name: name.to_string(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state()
    }

    /// Every `op` on keys containing `key_contains` fails from now on.
    pub fn fail(&self, op: Op, key_contains: &str) {
        self.add_fault(op, key_contains, false, None);
    }

    /// The next `op` on keys containing `key_contains` fails once.
    pub fn fail_once(&self, op: Op, key_contains: &str) {
        self.add_fault(op, key_contains, false, Some(1));
    }

    /// The next `op` on such a key is applied, then reported as failed.
    pub fn lose_answer_once(&self, op: Op, key_contains: &str) {
        self.add_fault(op, key_contains, true, Some(1));
    }

    fn add_fault(&self, op: Op, key_contains: &str, after_applying: bool, remaining: Option<u32>) {
        self.state().faults.push(Fault {
            op,
            key_contains: key_contains.to_string(),
            after_applying,
            remaining,
        });
    }

    /// Stores `body` at `key` directly, as another writer would.
    pub fn insert(&self, key: &str, body: impl Into<Bytes>) {
        self.state().objects.insert(key.to_string(), body.into());
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.state().objects.keys().cloned().collect()
    }

    /// The object at `key`.
    pub fn object(&self, key: &str) -> Option<Bytes> {
        self.state().objects.get(key).cloned()
    }
}

/// The message of an injected failure.
const FAULT: &str = "injected fault";

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory storage lock")
    }

    /// The fault that strikes `op` on `key` now, if any (and counts it).
    fn strike(&self, op: Op, key: &str) -> Option<bool> {
        let mut state = self.state();
        let fault = state
            .faults
            .iter_mut()
            .find(|f| f.op == op && key.contains(&f.key_contains) && f.remaining != Some(0))?;
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        Some(fault.after_applying)
    }

    fn describe(&self) -> String {
        format!("memory://{}", self.name)
    }

    fn error(&self, op: &'static str, key: &str, message: &str) -> StorageError {
        StorageError {
            storage: self.describe(),
            op,
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    /// Runs `apply` unless a fault strikes first; a fault that strikes
    /// after applying fails all the same.
    fn guarded<T>(
        &self,
        op: Op,
        name: &'static str,
        key: &str,
        apply: impl FnOnce(&mut State) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self.strike(op, key) {
            Some(false) => Err(self.error(name, key, FAULT)),
            Some(true) => {
                apply(&mut self.state())?;
                Err(self.error(name, key, FAULT))
            }
            None => apply(&mut self.state()),
        }
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn preflight(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        self.inner
            .guarded(Op::Exists, "HEAD", key, |s| Ok(s.objects.contains_key(key)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        self.inner.guarded(Op::List, "LIST", prefix, |s| {
            Ok(s.objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| ObjectInfo {
                    key: k.clone(),
                    size: v.len() as u64,
                })
                .collect())
        })
    }

    async fn get(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let inner = &self.inner;
        let body = inner.guarded(Op::Get, "GET", key, |s| {
            s.objects
                .get(key)
                .cloned()
                .ok_or_else(|| inner.error("GET", key, "no such key"))
        })?;
        Ok(Box::new(std::io::Cursor::new(body)))
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        self.inner.guarded(Op::Put, "PUT", key, |s| {
            s.objects.insert(key.to_string(), body);
            Ok(())
        })
    }

    fn begin_upload(&self, key: &str) -> Box<dyn Upload> {
        Box::new(MemoryUpload {
            storage: Arc::clone(&self.inner),
            key: key.to_string(),
            buf: BytesMut::new(),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.guarded(Op::Delete, "DELETE", key, |s| {
            s.objects.remove(key);
            Ok(())
        })
    }
}

/// An upload that appears in the map only when it finishes.
struct MemoryUpload {
    storage: Arc<Inner>,
    key: String,
    buf: BytesMut,
}

#[async_trait]
impl Upload for MemoryUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let buf = &mut self.buf;
        self.storage.guarded(Op::Write, "write", &self.key, |_| {
            buf.extend_from_slice(&chunk);
            Ok(())
        })
    }

    async fn finish(self: Box<Self>) -> Result<(), StorageError> {
        let body = self.buf.freeze();
        self.storage.guarded(Op::Finish, "finish", &self.key, |s| {
            s.objects.insert(self.key.clone(), body);
            Ok(())
        })
    }

    async fn abort(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn an_upload_appears_only_when_it_finishes() {
        let m = MemoryStorage::new("t", "p");
        let mut up = m.begin_upload("p/a");
        up.write(Bytes::from_static(b"he")).await.unwrap();
        up.write(Bytes::from_static(b"llo")).await.unwrap();
        assert!(!m.exists("p/a").await.unwrap());
        up.finish().await.unwrap();
        let mut body = String::new();
        m.get("p/a")
            .await
            .unwrap()
            .read_to_string(&mut body)
            .await
            .unwrap();
        assert_eq!(body, "hello");
        let aborted = m.begin_upload("p/b");
        aborted.abort().await;
        assert_eq!(m.keys(), ["p/a"]);
    }

    #[tokio::test]
    async fn faults_strike_by_operation_and_key_and_can_apply_first() {
        let m = MemoryStorage::new("t", "");
        m.fail_once(Op::Put, "x");
        assert!(m.put("x1", Bytes::new()).await.is_err());
        m.put("x1", Bytes::new()).await.unwrap();
        m.put("y", Bytes::new()).await.unwrap();
        m.lose_answer_once(Op::Delete, "y");
        assert!(m.delete("y").await.is_err());
        assert!(!m.exists("y").await.unwrap(), "applied before failing");
        m.fail(Op::List, "");
        assert!(m.list("").await.is_err());
        assert!(m.list("").await.is_err());
    }

    #[tokio::test]
    async fn list_returns_only_keys_under_the_prefix() {
        let m = MemoryStorage::new("t", "");
        for k in ["a/1", "a/2", "ab/1", "b/1"] {
            m.insert(k, "x");
        }
        let keys: Vec<_> = m
            .list("a/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["a/1", "a/2"]);
    }
}
