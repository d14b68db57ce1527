//! Producer-id allocation for InitProducerId: ids are never reused, even across
//! restarts and `kill -9`. Ids are handed out from blocks. On a single node the end
//! of the current block is persisted (fsync + rename) before any id of it is used, so
//! a restart continues after the last block that may have been handed out; in a
//! cluster each block comes from the metadata log (Kafka's AllocateProducerIds), so
//! no two nodes hand out the same id.

use super::error::BrokerError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Ids reserved per block, as the metadata log hands them out.
pub const BLOCK_SIZE: i64 = crate::cluster::image::PRODUCER_ID_BLOCK;
const FILE: &str = "producer-id-block";

struct State {
    next: i64,
    block_end: i64,
    /// Latest epoch issued per producer id this run, for KIP-360 epoch bumps.
    epochs: HashMap<i64, i16>,
}

pub struct ProducerIds {
    path: PathBuf,
    state: Mutex<State>,
}

impl ProducerIds {
    pub fn open(data_dir: &Path) -> Result<ProducerIds, BrokerError> {
        let path = data_dir.join(FILE);
        let next = match std::fs::read_to_string(&path) {
            Ok(s) => {
                s.trim().parse::<i64>().map_err(|_| BrokerError::Storage(format!("{} is corrupt", path.display())))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(BrokerError::Storage(format!("{}: {e}", path.display()))),
        };
        Ok(ProducerIds { path, state: Mutex::new(State { next, block_end: next, epochs: HashMap::new() }) })
    }

    /// A fresh (producer id, epoch 0), or — when an existing producer re-initialises
    /// with the id and epoch we last gave it — the same id with the epoch bumped.
    /// Blocks of ids come from the data directory's file.
    pub fn init(&self, current: Option<(i64, i16)>) -> Result<(i64, i16), BrokerError> {
        self.init_from(current, |next| {
            self.persist(next + BLOCK_SIZE)?;
            Ok(next)
        })
    }

    /// `init`, with `new_block` giving the first id of a fresh block of `BLOCK_SIZE`
    /// ids when the current one is used up (it is passed where this one ended).
    pub fn init_from(
        &self,
        current: Option<(i64, i16)>,
        new_block: impl FnOnce(i64) -> Result<i64, BrokerError>,
    ) -> Result<(i64, i16), BrokerError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((pid, epoch)) = current {
            if s.epochs.get(&pid) == Some(&epoch) && epoch < i16::MAX - 1 {
                s.epochs.insert(pid, epoch + 1);
                return Ok((pid, epoch + 1));
            }
        }
        if s.next >= s.block_end {
            let first = new_block(s.next)?;
            s.next = first;
            s.block_end = first + BLOCK_SIZE;
        }
        let pid = s.next;
        s.next += 1;
        assert!(pid < s.block_end, "ids come from a persisted block");
        s.epochs.insert(pid, 0);
        Ok((pid, 0))
    }

    fn persist(&self, block_end: i64) -> Result<(), BrokerError> {
        let tmp = self.path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut &f, block_end.to_string().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        };
        write().map_err(|e| BrokerError::Storage(format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let (a, ea) = ids.init(None).unwrap();
        let (b, _) = ids.init(None).unwrap();
        assert_eq!((a, ea, b), (0, 0, 1));
        drop(ids);
        // a crash after handing out ids of a block: the next run starts past it
        let ids = ProducerIds::open(dir.path()).unwrap();
        let (c, _) = ids.init(None).unwrap();
        assert_eq!(c, BLOCK_SIZE);
    }

    #[test]
    fn blocks_can_come_from_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let mut blocks = [5 * BLOCK_SIZE, 9 * BLOCK_SIZE].into_iter();
        let mut next = || ids.init_from(None, |_| Ok(blocks.next().unwrap())).unwrap().0;
        assert_eq!(next(), 5 * BLOCK_SIZE);
        for _ in 1..BLOCK_SIZE {
            next();
        }
        assert_eq!(next(), 9 * BLOCK_SIZE, "a used-up block is followed by the next one given");
        assert!(!dir.path().join(FILE).exists(), "nothing is written when blocks come from elsewhere");
    }

    #[test]
    fn known_producer_with_current_epoch_gets_a_bump() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let (p, e) = ids.init(None).unwrap();
        assert_eq!(ids.init(Some((p, e))).unwrap(), (p, 1));
        assert_eq!(ids.init(Some((p, 1))).unwrap(), (p, 2));
        // a stale epoch or an unknown id gets a new producer id
        let (q, eq) = ids.init(Some((p, 0))).unwrap();
        assert!(q != p && eq == 0);
        assert_ne!(ids.init(Some((999, 3))).unwrap().0, 999);
    }
}
