//! A storage in memory, for tests: the rules above storage (never
//! overwrite, a backup is its data and its manifest, retention over a
//! listing) run against it without an S3 server. Faults are injected by
//! operation and key; a fault may strike before the operation or after it
//! was applied (the store did it, its answer was lost).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::{ErrorKind, ObjectInfo, ObjectReader, Storage, StorageError, Unfinished, Upload};

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
    /// The run that wrote each object keepsake wrote, and when.
    writers: BTreeMap<String, (String, jiff::Timestamp)>,
    /// Uploads begun and not yet finished or aborted, by id.
    open: BTreeMap<u64, Unfinished>,
    next_upload: u64,
    faults: Vec<Fault>,
}

impl State {
    /// Stores `body` at `key` for `run`, unless the key is taken.
    fn create(&mut self, key: &str, body: Bytes, run: &str) -> Result<(), &'static str> {
        if self.objects.contains_key(key) {
            return Err("the key exists; it is never replaced");
        }
        self.objects.insert(key.to_string(), body);
        let written = (run.to_string(), jiff::Timestamp::now());
        self.writers.insert(key.to_string(), written);
        Ok(())
    }

    /// Registers an upload to `key`; its id.
    fn open_upload(&mut self, key: &str, started: jiff::Timestamp, ours: bool) -> u64 {
        self.next_upload += 1;
        let id = self.next_upload;
        let upload = Unfinished {
            key: key.to_string(),
            id: id.to_string(),
            started: Some(started),
            ours,
        };
        self.open.insert(id, upload);
        id
    }

    fn remove(&mut self, key: &str) {
        self.objects.remove(key);
        self.writers.remove(key);
    }
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
        let mut state = self.state();
        state.objects.insert(key.to_string(), body.into());
        state.writers.remove(key);
    }

    /// Leaves an unfinished upload to `key` started at `started`, as a
    /// killed process of another run would.
    pub fn leave_upload(&self, key: &str, started: jiff::Timestamp) {
        self.state().open_upload(key, started, false);
    }

    /// The keys of unfinished uploads, sorted.
    pub fn open_uploads(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.state().open.values().map(|u| u.key.clone()).collect();
        keys.sort();
        keys
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
        StorageError::new(self.describe(), op, key, message)
    }

    fn taken(&self, op: &'static str, key: &str, message: &str) -> StorageError {
        self.error(op, key, message)
            .with_kind(ErrorKind::AlreadyExists)
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
                    modified: s.writers.get(k).map(|(_, at)| *at),
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

    async fn put(&self, key: &str, body: Bytes, run: &str) -> Result<(), StorageError> {
        let inner = &self.inner;
        inner.guarded(Op::Put, "PUT", key, |s| {
            s.create(key, body, run)
                .map_err(|why| inner.taken("PUT", key, why))
        })
    }

    fn begin_upload(&self, key: &str, run: &str) -> Box<dyn Upload> {
        let id = self.state().open_upload(key, jiff::Timestamp::now(), true);
        Box::new(MemoryUpload {
            storage: Arc::clone(&self.inner),
            key: key.to_string(),
            run: run.to_string(),
            id,
            buf: BytesMut::new(),
        })
    }

    async fn written_by(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.inner.guarded(Op::Exists, "HEAD", key, |s| {
            Ok(s.writers.get(key).map(|(run, _)| run.clone()))
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.guarded(Op::Delete, "DELETE", key, |s| {
            s.remove(key);
            Ok(())
        })
    }

    async fn unfinished(&self, prefix: &str) -> Result<Vec<Unfinished>, StorageError> {
        self.inner.guarded(Op::List, "LIST uploads", prefix, |s| {
            Ok(s.open
                .values()
                .filter(|u| u.key.starts_with(prefix))
                .cloned()
                .collect())
        })
    }

    async fn discard(&self, unfinished: &Unfinished) -> Result<(), StorageError> {
        self.inner
            .guarded(Op::Delete, "ABORT", &unfinished.key, |s| {
                s.open.retain(|id, _| id.to_string() != unfinished.id);
                Ok(())
            })
    }
}

/// An upload that appears in the map only when it finishes; dropped
/// without finishing or aborting (a killed process), it stays open.
struct MemoryUpload {
    storage: Arc<Inner>,
    key: String,
    run: String,
    id: u64,
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
        let inner = &self.storage;
        let result = inner.guarded(Op::Finish, "finish", &self.key, |s| {
            s.open.remove(&self.id);
            s.create(&self.key, body, &self.run)
                .map_err(|why| inner.taken("finish", &self.key, why))
        });
        // Like a multipart upload that failed to complete: aborted.
        inner.state().open.remove(&self.id);
        result
    }

    async fn abort(self: Box<Self>) {
        self.storage.state().open.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn an_upload_appears_only_when_it_finishes() {
        let m = MemoryStorage::new("t", "p");
        let mut up = m.begin_upload("p/a", "run");
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
        let aborted = m.begin_upload("p/b", "run");
        aborted.abort().await;
        assert_eq!(m.keys(), ["p/a"]);
        assert_eq!(m.written_by("p/a").await.unwrap().as_deref(), Some("run"));
        let crashed = m.begin_upload("p/c", "run");
        drop(crashed);
        assert_eq!(m.open_uploads(), ["p/c"]);
    }

    #[tokio::test]
    async fn faults_strike_by_operation_and_key_and_can_apply_first() {
        let m = MemoryStorage::new("t", "");
        m.fail_once(Op::Put, "x");
        assert!(m.put("x1", Bytes::new(), "r").await.is_err());
        m.put("x1", Bytes::new(), "r").await.unwrap();
        m.put("y", Bytes::new(), "r").await.unwrap();
        m.lose_answer_once(Op::Delete, "y");
        assert!(m.delete("y").await.is_err());
        assert!(!m.exists("y").await.unwrap(), "applied before failing");
        m.fail(Op::List, "");
        assert!(m.list("").await.is_err());
        assert!(m.list("").await.is_err());
    }

    #[tokio::test]
    async fn a_write_never_replaces_an_object() {
        let m = MemoryStorage::new("t", "");
        m.insert("k", "theirs");
        let err = m
            .put("k", Bytes::from_static(b"ours"), "r")
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        let mut up = m.begin_upload("k", "r");
        up.write(Bytes::from_static(b"ours")).await.unwrap();
        let err = up.finish().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::AlreadyExists);
        assert_eq!(m.object("k").unwrap(), "theirs");
        assert_eq!(m.written_by("k").await.unwrap(), None);
        assert!(m.open_uploads().is_empty());
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
