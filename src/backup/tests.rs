//! The rules of a backup run against in-memory storages and fake dumps:
//! what is stored, what is never stored, what is never overwritten.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use async_trait::async_trait;
use tokio::io::{AsyncRead, ReadBuf};

use super::*;
use crate::manifest::Manifest;
use crate::pg::tools::PgVersion;
use crate::storage::memory::{MemoryStorage, Op};

/// The dump a fake pg_dump writes: the output's bytes, then maybe a read
/// error, then the exit it reports.
struct FakeDump {
    output: Vec<u8>,
    read_error_after_output: bool,
    exits_cleanly: bool,
    /// Another writer stores this key when the output ends.
    at_end: Option<(Arc<MemoryStorage>, String)>,
}

/// Reads `data`, then fails if `then_fail`.
struct Reader {
    data: Vec<u8>,
    pos: usize,
    then_fail: bool,
    at_end: Option<(Arc<MemoryStorage>, String)>,
}

impl AsyncRead for Reader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.data.len() - self.pos;
        if left == 0 {
            if let Some((storage, key)) = self.at_end.take() {
                storage.insert(&key, "the other run's backup");
            }
            if self.then_fail {
                return Poll::Ready(Err(io::Error::other("the pipe broke")));
            }
            return Poll::Ready(Ok(()));
        }
        let n = left.min(buf.remaining()).min(64 * 1024);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

struct Process {
    exits_cleanly: bool,
    killed: Arc<AtomicBool>,
}

#[async_trait]
impl DumpProcess for Process {
    async fn kill(&mut self) {
        self.killed.store(true, Ordering::SeqCst);
    }

    async fn finish(self: Box<Self>) -> Result<(), DumpError> {
        if self.exits_cleanly {
            Ok(())
        } else {
            Err(DumpError::Failed {
                program: "pg_dump",
                status: "exit status 1".into(),
                stderr: vec!["pg_dump: error: query failed".into()],
            })
        }
    }
}

impl FakeDump {
    fn whole(output: Vec<u8>) -> FakeDump {
        FakeDump {
            output,
            read_error_after_output: false,
            exits_cleanly: true,
            at_end: None,
        }
    }

    fn inserting(mut self, storage: &Arc<MemoryStorage>, key: &str) -> FakeDump {
        self.at_end = Some((Arc::clone(storage), key.to_string()));
        self
    }

    fn start(self, killed: &Arc<AtomicBool>) -> Dump {
        Dump {
            output: Box::new(Reader {
                data: self.output,
                pos: 0,
                then_fail: self.read_error_after_output,
                at_end: self.at_end,
            }),
            process: Box::new(Process {
                exits_cleanly: self.exits_cleanly,
                killed: Arc::clone(killed),
            }),
        }
    }
}

use crate::config::testing::test_job as job;

fn memory(name: &str) -> (Arc<MemoryStorage>, NamedStorage) {
    let m = Arc::new(MemoryStorage::new(name, "prod"));
    let named = NamedStorage {
        name: name.to_string(),
        storage: m.clone(),
    };
    (m, named)
}

const VERSIONS: Versions = Versions {
    server: PgVersion(150004),
    pg_dump: PgVersion(150018),
};

fn now() -> Timestamp {
    "2026-11-28T03:00:00Z".parse().unwrap()
}

/// A dump's worth of text, more than one chunk.
fn sample() -> Vec<u8> {
    (0..200_000u32)
        .flat_map(|i| format!("INSERT {i};\n").into_bytes())
        .collect()
}

async fn run(
    job: &JobConfig,
    storages: &[NamedStorage],
    dump: FakeDump,
) -> (Result<Outcome, BackupError>, bool) {
    let killed = Arc::new(AtomicBool::new(false));
    let cancel = CancellationToken::new();
    let result = store(job, storages, VERSIONS, now(), &cancel, || {
        Ok(dump.start(&killed))
    })
    .await;
    (result, killed.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_whole_dump_is_stored_with_its_manifest_in_every_storage() {
    let job = job("compression = \"none\"");
    let (a, named_a) = memory("a");
    let (b, named_b) = memory("b");
    let data = sample();
    let (result, _) = run(&job, &[named_a, named_b], FakeDump::whole(data.clone())).await;
    let outcome = result.unwrap();
    let key = "prod/shop/shop-2026-11-28_03-00-00.sql";
    for m in [&a, &b] {
        assert_eq!(m.keys(), [key.to_string(), naming::manifest_key(key)]);
        assert_eq!(m.object(key).unwrap(), data);
        let manifest = Manifest::from_json(&m.object(&naming::manifest_key(key)).unwrap()).unwrap();
        assert_eq!(manifest.size, data.len() as u64);
        assert_eq!(manifest.sha256, outcome.summary.sha256);
        assert_eq!(manifest.pg_dump_version, "15.18");
    }
    let expected_sha = crate::pipeline::hex(&<sha2::Sha256 as sha2::Digest>::digest(&data));
    assert_eq!(outcome.summary.sha256, expected_sha);
    let stored: Vec<_> = outcome.copies.iter().map(|c| c.storage.as_str()).collect();
    assert_eq!(stored, ["a", "b"]);
    assert!(
        outcome
            .copies
            .iter()
            .all(|c| c.backup.has_manifest() && c.backup.key == key)
    );
}

#[tokio::test]
async fn an_existing_backup_or_manifest_is_never_overwritten() {
    let job = job("compression = \"none\"");
    let (m, named) = memory("a");
    let taken = "prod/shop/shop-2026-11-28_03-00-00.sql";
    m.insert(taken, "older backup");
    m.insert(
        &naming::manifest_key("prod/shop/shop-2026-11-28_03-00-00-1.sql"),
        "a manifest whose data is gone",
    );
    let (result, _) = run(&job, &[named], FakeDump::whole(b"new dump".to_vec())).await;
    let outcome = result.unwrap();
    assert_eq!(
        outcome.copies[0].backup.key,
        "prod/shop/shop-2026-11-28_03-00-00-2.sql"
    );
    assert_eq!(outcome.copies[0].backup.name.seq, 2);
    assert_eq!(m.object(taken).unwrap(), "older backup");
}

/// The verdict table: every way a dump can fail stores nothing.
#[tokio::test]
async fn a_dump_that_did_not_fully_succeed_stores_nothing() {
    let job = job("");
    type Case = (&'static str, FakeDump, fn(&BackupError) -> bool);
    let cases: [Case; 3] = [
        (
            "exits non-zero after its whole output",
            FakeDump {
                exits_cleanly: false,
                ..FakeDump::whole(sample())
            },
            |e| matches!(e, BackupError::Dump(DumpError::Failed { .. })),
        ),
        (
            "its output breaks mid-stream",
            FakeDump {
                read_error_after_output: true,
                ..FakeDump::whole(sample())
            },
            |e| matches!(e, BackupError::Pipeline(_)),
        ),
        ("writes nothing", FakeDump::whole(Vec::new()), |e| {
            matches!(e, BackupError::Empty)
        }),
    ];
    for (what, dump, expected) in cases {
        let (m, named) = memory("a");
        let (result, _) = run(&job, &[named], dump).await;
        let err = result.expect_err(what);
        assert!(expected(&err), "{what}: {err:?}");
        assert!(m.keys().is_empty(), "{what}: {:?}", m.keys());
    }
}

#[tokio::test]
async fn a_failing_storage_loses_only_its_own_copy() {
    let job = job("");
    let (a, named_a) = memory("a");
    let (b, named_b) = memory("b");
    b.fail_once(Op::Write, "shop");
    let (result, killed) = run(&job, &[named_a, named_b], FakeDump::whole(sample())).await;
    let outcome = result.unwrap();
    assert!(!killed, "the dump goes on for the other storage");
    let stored: Vec<_> = outcome.copies.iter().map(|c| c.storage.as_str()).collect();
    assert_eq!(stored, ["a"]);
    assert_eq!(outcome.failures.len(), 1);
    assert_eq!(outcome.failures[0].storage, "b");
    assert_eq!(a.keys().len(), 2, "backup and manifest");
    assert!(b.keys().is_empty() && b.open_uploads().is_empty());
}

#[tokio::test]
async fn when_every_storage_fails_the_dump_is_killed_and_nothing_is_stored() {
    let job = job("");
    let (a, named_a) = memory("a");
    let (b, named_b) = memory("b");
    a.fail_once(Op::Write, "shop");
    b.fail_once(Op::Write, "shop");
    let (result, killed) = run(&job, &[named_a, named_b], FakeDump::whole(sample())).await;
    assert!(matches!(result, Err(BackupError::Storage(_))), "{result:?}");
    assert!(killed, "pg_dump must be stopped");
    assert!(a.keys().is_empty() && b.keys().is_empty());
    assert!(a.open_uploads().is_empty() && b.open_uploads().is_empty());
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_counts_when_it_landed() {
    for (op, what) in [(Op::Finish, "shop"), (Op::Put, "manifest")] {
        let job = job("");
        let (m, named) = memory("a");
        m.lose_answer_once(op, what);
        let (result, _) = run(&job, &[named], FakeDump::whole(sample())).await;
        let outcome = result.unwrap_or_else(|e| panic!("{op:?}: {e}"));
        let key = &outcome.copies[0].backup.key;
        assert_eq!(m.keys(), [key.clone(), naming::manifest_key(key)]);
    }
}

#[tokio::test]
async fn a_failed_data_write_takes_its_manifest_along() {
    let job = job("");
    let (m, named) = memory("a");
    m.fail(Op::Finish, "shop");
    let (result, _) = run(&job, &[named], FakeDump::whole(sample())).await;
    assert!(matches!(result, Err(BackupError::Storage(_))), "{result:?}");
    assert!(m.keys().is_empty(), "{:?}", m.keys());
    assert!(m.open_uploads().is_empty());
}

#[tokio::test]
async fn a_key_taken_by_another_writer_is_never_removed() {
    let job = job("compression = \"none\"");
    let (m, named) = memory("a");
    // Another process stores the same key while this run streams.
    let key = "prod/shop/shop-2026-11-28_03-00-00.sql";
    let (result, _) = run(&job, &[named], FakeDump::whole(sample()).inserting(&m, key)).await;
    let err = result.unwrap_err();
    assert!(err.to_string().contains("never replaced"), "{err}");
    assert_eq!(m.object(key).unwrap(), "the other run's backup");
    assert_eq!(m.keys(), [key], "this run's manifest is gone too");
    // Another writer's manifest is a claim on the key: nothing is written.
    let (m, named) = memory("a");
    let claim = naming::manifest_key(key);
    let (result, _) = run(
        &job,
        &[named],
        FakeDump::whole(sample()).inserting(&m, &claim),
    )
    .await;
    assert!(result.unwrap_err().to_string().contains("never replaced"));
    assert_eq!(m.keys(), [claim]);
    assert!(m.open_uploads().is_empty());
}

#[tokio::test]
async fn a_copy_whose_manifest_fails_is_removed() {
    let job = job("");
    let (m, named) = memory("a");
    m.fail(Op::Put, "manifest");
    let (result, _) = run(&job, &[named], FakeDump::whole(sample())).await;
    assert!(matches!(result, Err(BackupError::Storage(_))), "{result:?}");
    assert!(m.keys().is_empty(), "{:?}", m.keys());
}

#[tokio::test]
async fn a_cancelled_backup_stores_nothing() {
    let job = job("");
    let (m, named) = memory("a");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let killed = Arc::new(AtomicBool::new(false));
    let result = store(&job, &[named], VERSIONS, now(), &cancel, || {
        Ok(FakeDump::whole(sample()).start(&killed))
    })
    .await;
    assert!(matches!(result, Err(BackupError::Cancelled)), "{result:?}");
    assert!(m.keys().is_empty());
}

#[test]
fn the_verdict_names_the_first_failure() {
    let failed = || {
        Err(DumpError::Failed {
            program: "pg_dump",
            status: "exit status 1".into(),
            stderr: vec![],
        })
    };
    let tally = || {
        let mut t = Tally::default();
        t.update(b"x");
        t
    };
    let upload_failed = || {
        Err(BackupError::Storage(StorageError::new(
            "memory://a".into(),
            "write",
            "k",
            "injected",
        )))
    };
    // The upload failing comes first, then pg_dump's exit, then the thread,
    // then the pipeline, then emptiness.
    let v = verdict(upload_failed(), Ok(Ok(5)), failed(), tally());
    assert!(matches!(v, Err(BackupError::Storage(_))));
    let v = verdict(Ok(()), Err("panicked".into()), failed(), tally());
    assert!(matches!(v, Err(BackupError::Dump(_))));
    let v = verdict(Ok(()), Err("panicked".into()), Ok(()), tally());
    assert!(matches!(v, Err(BackupError::Panicked(_))));
    let v = verdict(Ok(()), Ok(Err(io::Error::other("x"))), Ok(()), tally());
    assert!(matches!(v, Err(BackupError::Pipeline(_))));
    let v = verdict(Ok(()), Ok(Ok(0)), Ok(()), tally());
    assert!(matches!(v, Err(BackupError::Empty)));
    let summary = verdict(Ok(()), Ok(Ok(5)), Ok(()), tally()).unwrap();
    assert_eq!((summary.raw_bytes, summary.stored_bytes), (5, 1));
}
