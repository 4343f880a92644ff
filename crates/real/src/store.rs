//! A node's durable records on a real disk: the `Persist`, `Erase` and `Sync` effects a
//! node emits, kept in a data directory.
//!
//! `records.log` is append-only; each change is one frame:
//! `magic (1) | kind (1) | key length (4, LE) | value length (4, LE) | key | value | crc32c (4, LE)`,
//! the checksum over everything before it. A write is buffered by the OS until `sync`,
//! which is an fsync: what a node synced survives `kill -9` and a power cut, what it did
//! not may be gone or torn. At open the frames are read in order up to the first that is
//! incomplete, too large, or fails its checksum: that tail is what a crash tore, so it is
//! cut off (and the cut synced) rather than read as data.
//!
//! `identity` names the system, cluster and node the directory belongs to; opening it as
//! anything else is refused, so a node never boots from another's records.

use crate::crc::crc32c;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: u8 = 0xA5;
const PERSIST: u8 = 1;
const ERASE: u8 = 2;
const HEADER: usize = 10;
const TRAILER: usize = 4;

/// Bounds on one record: a length beyond them can only be a torn or corrupt frame.
pub const MAX_KEY: usize = 4 << 10;
pub const MAX_VALUE: usize = 64 << 20;

/// Whose records a directory holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub system: String,
    pub cluster: String,
    pub node: u32,
}

impl Identity {
    fn render(&self) -> String {
        format!(
            "system={}\ncluster={}\nnode={}\n",
            self.system, self.cluster, self.node
        )
    }

    fn parse(text: &str) -> Option<Identity> {
        let mut fields = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=')?;
            fields.insert(k.trim(), v.trim());
        }
        Some(Identity {
            system: fields.get("system")?.to_string(),
            cluster: fields.get("cluster")?.to_string(),
            node: fields.get("node")?.parse().ok()?,
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} node n{} of cluster {:?}",
            self.system, self.node, self.cluster
        )
    }
}

#[derive(Debug)]
pub struct Foreign {
    pub dir: PathBuf,
    pub found: Identity,
    pub expected: Identity,
}

#[derive(Debug)]
pub enum StoreError {
    Io {
        path: PathBuf,
        error: io::Error,
    },
    /// The directory belongs to another system, cluster or node (boxed: the rare error
    /// keeps every `Result` of the store small).
    Foreign(Box<Foreign>),
    /// `identity` exists but cannot be read as one.
    BadIdentity {
        path: PathBuf,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            StoreError::Foreign(x) => write!(
                f,
                "{}: holds the records of {}, not {}; give this node its own data directory",
                x.dir.display(),
                x.found,
                x.expected
            ),
            StoreError::BadIdentity { path } => write!(
                f,
                "{}: expected lines system=..., cluster=..., node=N",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Past this size, a log mostly made of superseded frames is rewritten at the next sync.
const COMPACT_AT: u64 = 8 << 20;
/// ... when it is more than this many times the size of the live records' frames.
const COMPACT_RATIO: u64 = 4;

/// One node's records, as its last synced (and perhaps some unsynced) writes left them.
pub struct Store {
    path: PathBuf,
    file: File,
    records: BTreeMap<String, Vec<u8>>,
    /// Bytes cut off the log's tail at open: what a crash tore.
    torn: u64,
    /// The log's length: every frame appended, superseded ones included.
    log_bytes: u64,
    /// What the live records' frames would take: the log's size after a compaction.
    live_bytes: u64,
}

impl Store {
    /// Opens (or makes) `dir` for `identity`, replaying its log.
    pub fn open(dir: &Path, identity: &Identity) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        check_identity(dir, identity)?;
        let path = dir.join("records.log");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        let (records, good) = replay(&bytes);
        let torn = (bytes.len() - good) as u64;
        if torn > 0 {
            file.set_len(good as u64).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        let live_bytes = records.iter().map(|(k, v)| frame_len(k, v)).sum();
        Ok(Store {
            path,
            file,
            records,
            torn,
            log_bytes: good as u64,
            live_bytes,
        })
    }

    /// The records now: every persist and erase so far, synced or not.
    pub fn records(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.records
    }

    /// Bytes of torn tail dropped when the store was opened.
    pub fn torn(&self) -> u64 {
        self.torn
    }

    pub fn persist(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        assert!(key.len() <= MAX_KEY, "a key of {} bytes", key.len());
        assert!(value.len() <= MAX_VALUE, "a value of {} bytes", value.len());
        self.append(PERSIST, key, value)?;
        if let Some(old) = self.records.insert(key.to_string(), value.to_vec()) {
            self.live_bytes -= frame_len(key, &old);
        }
        self.live_bytes += frame_len(key, value);
        Ok(())
    }

    pub fn erase(&mut self, key: &str) -> Result<(), StoreError> {
        assert!(key.len() <= MAX_KEY, "a key of {} bytes", key.len());
        self.append(ERASE, key, &[])?;
        if let Some(old) = self.records.remove(key) {
            self.live_bytes -= frame_len(key, &old);
        }
        Ok(())
    }

    /// Makes every write so far durable: an fsync of the log. A log grown mostly of
    /// superseded frames is then rewritten with the live records alone, so its size is
    /// bounded by a multiple of the data's.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(io_err(&self.path))?;
        if self.log_bytes > COMPACT_AT && self.log_bytes > COMPACT_RATIO * self.live_bytes {
            self.compact()?;
        }
        Ok(())
    }

    /// The log's length now.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes
    }

    /// Writes the live records to a new log, syncs it, and renames it over the old one
    /// (then syncs the directory): a crash before the rename leaves the old log whole,
    /// after it the new one. Only after a sync, so nothing unsynced is made durable.
    fn compact(&mut self) -> Result<(), StoreError> {
        let tmp = self.path.with_extension("log.tmp");
        let mut bytes = Vec::with_capacity(self.live_bytes as usize);
        for (key, value) in &self.records {
            bytes.extend_from_slice(&frame(PERSIST, key, value));
        }
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err(&self.path))?;
        self.log_bytes = bytes.len() as u64;
        Ok(())
    }

    fn append(&mut self, kind: u8, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let frame = frame(kind, key, value);
        // One write per frame: a crash tears at most this frame, and only at its tail.
        self.file.write_all(&frame).map_err(io_err(&self.path))?;
        self.log_bytes += frame.len() as u64;
        Ok(())
    }
}

fn check_identity(dir: &Path, identity: &Identity) -> Result<(), StoreError> {
    let path = dir.join("identity");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found =
                Identity::parse(&text).ok_or(StoreError::BadIdentity { path: path.clone() })?;
            if &found != identity {
                return Err(StoreError::Foreign(Box::new(Foreign {
                    dir: dir.to_path_buf(),
                    found,
                    expected: identity.clone(),
                })));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Written whole and synced before any record, so a directory never holds
            // records without saying whose they are.
            let mut f = File::create(&path).map_err(io_err(&path))?;
            f.write_all(identity.render().as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io_err(&path))
        }
        Err(e) => Err(StoreError::Io { path, error: e }),
    }
}

/// The bytes a record's frame takes.
fn frame_len(key: &str, value: &[u8]) -> u64 {
    (HEADER + key.len() + value.len() + TRAILER) as u64
}

/// A change as its frame's bytes.
fn frame(kind: u8, key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + key.len() + value.len() + TRAILER);
    out.push(MAGIC);
    out.push(kind);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(value);
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The records the log's whole frames make, and how many bytes those frames take.
fn replay(bytes: &[u8]) -> (BTreeMap<String, Vec<u8>>, usize) {
    let mut records = BTreeMap::new();
    let mut at = 0;
    while let Some((kind, key, value, len)) = next_frame(&bytes[at..]) {
        match kind {
            PERSIST => {
                records.insert(key, value.to_vec());
            }
            _ => {
                records.remove(&key);
            }
        }
        at += len;
    }
    (records, at)
}

/// The frame at the start of `bytes`, if it is whole and its checksum holds.
fn next_frame(bytes: &[u8]) -> Option<(u8, String, &[u8], usize)> {
    let header = bytes.get(..HEADER)?;
    let (magic, kind) = (header[0], header[1]);
    if magic != MAGIC || !(kind == PERSIST || kind == ERASE) {
        return None;
    }
    let key_len = u32::from_le_bytes(header[2..6].try_into().ok()?) as usize;
    let value_len = u32::from_le_bytes(header[6..10].try_into().ok()?) as usize;
    if key_len > MAX_KEY || value_len > MAX_VALUE {
        return None;
    }
    let body_end = HEADER + key_len + value_len;
    let stored = u32::from_le_bytes(bytes.get(body_end..body_end + TRAILER)?.try_into().ok()?);
    if crc32c(&bytes[..body_end]) != stored {
        return None;
    }
    let key = String::from_utf8(bytes[HEADER..HEADER + key_len].to_vec()).ok()?;
    Some((
        kind,
        key,
        &bytes[HEADER + key_len..body_end],
        body_end + TRAILER,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("splitbrain-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn me() -> Identity {
        Identity {
            system: "raft".into(),
            cluster: "c1".into(),
            node: 2,
        }
    }

    #[test]
    fn records_survive_a_reopen() {
        let d = dir("reopen");
        let mut s = Store::open(&d, &me()).expect("opens");
        s.persist("meta", b"term 3").expect("writes");
        s.persist("entry/1", b"put x 1").expect("writes");
        s.persist("meta", b"term 4").expect("writes");
        s.erase("entry/1").expect("writes");
        s.sync().expect("syncs");
        drop(s);
        let s = Store::open(&d, &me()).expect("reopens");
        assert_eq!(s.torn(), 0);
        let want: BTreeMap<String, Vec<u8>> = [("meta".to_string(), b"term 4".to_vec())].into();
        assert_eq!(s.records(), &want);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A log that is mostly superseded frames is rewritten at a sync: its size stays a
    /// multiple of the live data's, and what it holds is unchanged (and still there
    /// after a reopen, with writes appended after the compaction).
    #[test]
    fn a_log_of_overwrites_is_compacted_at_a_sync() {
        let d = dir("compact");
        let mut s = Store::open(&d, &me()).expect("opens");
        let value = vec![7u8; 64 << 10];
        let mut compactions = 0;
        for i in 0..1_000u32 {
            s.persist(&format!("slot/{}", i % 4), &value)
                .expect("writes");
            let before = s.log_bytes();
            s.sync().expect("syncs");
            if s.log_bytes() < before {
                compactions += 1;
            }
            assert!(
                s.log_bytes() <= COMPACT_AT + (64 << 10) + 64,
                "bounded: {}",
                s.log_bytes()
            );
        }
        assert!(
            compactions > 0,
            "64 MB of overwrites compacted at least once"
        );
        s.persist("last", b"after").expect("writes");
        s.sync().expect("syncs");
        let kept = s.records().clone();
        drop(s);
        let s = Store::open(&d, &me()).expect("reopens");
        assert_eq!(s.records(), &kept);
        assert_eq!(s.records().len(), 5);
        assert!(!d.join("records.log.tmp").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Every length a crash could leave the log at reads as a prefix of the changes:
    /// whole frames kept, the torn one dropped, never garbage.
    #[test]
    fn a_log_torn_anywhere_reads_as_a_prefix_of_its_changes() {
        let d = dir("torn");
        let changes: Vec<(&str, Option<&[u8]>)> = vec![
            ("a", Some(b"1")),
            ("b", Some(b"two")),
            ("a", None),
            ("c", Some(&[0u8, 255, 7])),
        ];
        {
            let mut s = Store::open(&d, &me()).expect("opens");
            for (k, v) in &changes {
                match v {
                    Some(v) => s.persist(k, v).expect("writes"),
                    None => s.erase(k).expect("writes"),
                }
            }
            s.sync().expect("syncs");
        }
        let log = d.join("records.log");
        let whole = std::fs::read(&log).expect("the log");
        // The state after each prefix of the changes, and where each frame ends.
        let mut states = vec![BTreeMap::new()];
        let mut ends = vec![0usize];
        for (k, v) in &changes {
            let mut next: BTreeMap<String, Vec<u8>> = states.last().cloned().unwrap_or_default();
            match v {
                Some(v) => next.insert(k.to_string(), v.to_vec()),
                None => next.remove(*k),
            };
            let len = frame(PERSIST, k, v.unwrap_or_default()).len();
            ends.push(ends.last().copied().unwrap_or(0) + len);
            states.push(next);
        }
        assert_eq!(*ends.last().expect("frames"), whole.len());
        for cut in 0..=whole.len() {
            std::fs::write(&log, &whole[..cut]).expect("a torn log");
            let s = Store::open(&d, &me()).expect("opens");
            let whole_frames = ends.iter().rposition(|e| *e <= cut).expect("zero fits");
            assert_eq!(s.records(), &states[whole_frames], "cut at {cut}");
            assert_eq!(s.torn(), (cut - ends[whole_frames]) as u64, "cut at {cut}");
            drop(s);
            // The torn tail was cut off: the log is whole frames again.
            let len = std::fs::metadata(&log).expect("the log").len();
            assert_eq!(len, ends[whole_frames] as u64);
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_flipped_bit_in_the_last_frame_drops_that_frame_only() {
        let d = dir("flip");
        {
            let mut s = Store::open(&d, &me()).expect("opens");
            s.persist("a", b"kept").expect("writes");
            s.persist("b", b"flipped").expect("writes");
            s.sync().expect("syncs");
        }
        let log = d.join("records.log");
        let mut bytes = std::fs::read(&log).expect("the log");
        let last = bytes.len() - 6;
        bytes[last] ^= 0x10;
        std::fs::write(&log, &bytes).expect("written");
        let mut s = Store::open(&d, &me()).expect("opens");
        assert_eq!(s.records().keys().collect::<Vec<_>>(), ["a"]);
        assert!(s.torn() > 0);
        // Writing goes on after the cut, and reads back.
        s.persist("c", b"after").expect("writes");
        s.sync().expect("syncs");
        drop(s);
        let s = Store::open(&d, &me()).expect("reopens");
        assert_eq!(s.records().keys().collect::<Vec<_>>(), ["a", "c"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_of_another_system_cluster_or_node_is_refused() {
        let d = dir("foreign");
        drop(Store::open(&d, &me()).expect("opens"));
        for other in [
            Identity {
                system: "bully".into(),
                ..me()
            },
            Identity {
                cluster: "c2".into(),
                ..me()
            },
            Identity { node: 3, ..me() },
        ] {
            match Store::open(&d, &other) {
                Err(StoreError::Foreign(x)) => {
                    assert_eq!((x.found, x.expected), (me(), other));
                }
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("{other} opened {me}'s records", me = me()),
            }
        }
        std::fs::write(d.join("identity"), "who knows").expect("written");
        assert!(matches!(
            Store::open(&d, &me()),
            Err(StoreError::BadIdentity { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }
}
