//! The embedded backend: one file per block under the data directory.
//!
//! Layout: `<root>/blocks/<first 2 hex of digest>/<digest hex>`. Writes go to a
//! temporary file that is fsynced and renamed into place, so a crash leaves
//! either the whole block or nothing, never a torn one.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use bytes::Bytes;

use super::{check_size, cid, BlobStore, Cid, StoreError};

/// An on-disk block store. Cheap to clone; all state is on disk.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    root: PathBuf,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let blocks = root.join("blocks");
        fs::create_dir_all(&blocks).map_err(|source| StoreError::Io {
            path: blocks,
            source,
        })?;
        Ok(Self { root })
    }

    /// The directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, cid: &Cid) -> Result<PathBuf, StoreError> {
        let hex = hex::encode(cid::digest_of(cid)?);
        Ok(self.root.join("blocks").join(&hex[..2]).join(hex))
    }
}

#[async_trait::async_trait]
impl BlobStore for EmbeddedStore {
    async fn put(&self, block: Bytes) -> Result<Cid, StoreError> {
        check_size(&block)?;
        let cid = cid::cid_for_block(&block);
        let path = self.path_of(&cid)?;
        tokio::task::spawn_blocking(move || write_atomically(&path, &block))
            .await
            .expect("embedded store writer panicked")?;
        Ok(cid)
    }

    async fn fetch_unverified(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        let path = self.path_of(cid)?;
        tokio::task::spawn_blocking(move || read_block(path))
            .await
            .expect("embedded store reader panicked")?
            .ok_or_else(|| StoreError::NotFound(Box::new(*cid)))
    }

    /// Reads every block on one blocking thread: the content check asks for
    /// a round of them at a time, and a thread hand-off per block would cost
    /// more than the reads and crowd out the API's requests.
    async fn fetch_many_unverified(&self, cids: &[Cid]) -> Result<Vec<Option<Bytes>>, StoreError> {
        let paths = cids
            .iter()
            .map(|cid| self.path_of(cid))
            .collect::<Result<Vec<_>, _>>()?;
        tokio::task::spawn_blocking(move || paths.into_iter().map(read_block).collect())
            .await
            .expect("embedded store reader panicked")
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        let path = self.path_of(cid)?;
        tokio::fs::try_exists(&path)
            .await
            .map_err(|source| StoreError::Io { path, source })
    }
}

/// The block stored at `path`, or `None` if there is none.
fn read_block(path: PathBuf) -> Result<Option<Bytes>, StoreError> {
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes.into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io { path, source }),
    }
}

fn write_atomically(path: &Path, block: &[u8]) -> Result<(), StoreError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().expect("block paths have a parent");
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    io::Write::write_all(&mut tmp, block).map_err(io_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    tmp.persist(path).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_is_idempotent_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let cid = store.put(Bytes::from_static(b"block")).await.unwrap();
        assert_eq!(store.put(Bytes::from_static(b"block")).await.unwrap(), cid);
        assert!(store.has(&cid).await.unwrap());
        assert_eq!(store.get(&cid).await.unwrap(), Bytes::from_static(b"block"));
    }

    #[tokio::test]
    async fn many_blocks_come_back_in_order_with_gaps_for_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let a = store.put(Bytes::from_static(b"a")).await.unwrap();
        let b = store.put(Bytes::from_static(b"b")).await.unwrap();
        let absent = cid::cid_for_block(b"absent");
        let found = store.fetch_many_unverified(&[b, absent, a]).await.unwrap();
        assert_eq!(
            found,
            [
                Some(Bytes::from_static(b"b")),
                None,
                Some(Bytes::from_static(b"a"))
            ]
        );
    }

    #[tokio::test]
    async fn missing_and_tampered_blocks_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let absent = cid::cid_for_block(b"absent");
        assert!(matches!(store.get(&absent).await, Err(StoreError::NotFound(c)) if *c == absent));
        assert!(!store.has(&absent).await.unwrap());

        let cid = store.put(Bytes::from_static(b"honest")).await.unwrap();
        fs::write(store.path_of(&cid).unwrap(), b"forged").unwrap();
        assert!(
            matches!(store.get(&cid).await, Err(StoreError::Tampered { expected, .. }) if *expected == cid)
        );
    }

    #[tokio::test]
    async fn oversize_block_is_refused_and_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let big = Bytes::from(vec![0u8; super::super::MAX_BLOCK_SIZE + 1]);
        assert!(matches!(
            store.put(big.clone()).await,
            Err(StoreError::TooLarge { .. })
        ));
        assert!(!store.has(&cid::cid_for_block(&big)).await.unwrap());
    }
}
