//! Noticing config edits: notify watches the file's directory (editors and
//! Kubernetes ConfigMaps replace files by rename or symlink swap, which a
//! watch on the file itself would miss); events are debounced and a reload
//! is asked for only when the file's content changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Quiet time after the last event before the file is read.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches one config file; yields when its content changed.
pub struct ConfigWatch {
    path: PathBuf,
    events: mpsc::Receiver<()>,
    last: Option<[u8; 32]>,
    _watcher: RecommendedWatcher,
}

/// The SHA-256 of the file's content (None when it cannot be read).
async fn content_hash(path: &Path) -> Option<[u8; 32]> {
    tokio::fs::read(path)
        .await
        .ok()
        .map(|bytes| Sha256::digest(&bytes).into())
}

impl ConfigWatch {
    /// Starts watching the directory of `path`.
    pub async fn start(path: &Path) -> notify::Result<ConfigWatch> {
        let (tx, events) = mpsc::channel(1);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    // A full channel already holds a pending wake-up.
                    let _ = tx.try_send(());
                }
            })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(ConfigWatch {
            path: path.to_path_buf(),
            events,
            last: content_hash(path).await,
            _watcher: watcher,
        })
    }

    /// Waits until the file's content differs from the last time it was
    /// seen (after the events settle).
    pub async fn changed(&mut self) {
        loop {
            if self.events.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
            loop {
                tokio::time::sleep(DEBOUNCE).await;
                if self.events.try_recv().is_err() {
                    break;
                }
            }
            let now = content_hash(&self.path).await;
            if now != self.last {
                self.last = now;
                return;
            }
            tracing::debug!(path = %self.path.display(), "config directory changed, file content did not");
        }
    }
}
