//! A random messaging key kept in a 0600 JSON file.
//!
//! The file is created with mode 0600 and never overwritten; loading refuses a
//! file that group or others can read, as ssh does for private keys.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::{keys::parse_hex32, KeyError, PublicKey, SecretKey};

#[derive(Serialize, Deserialize)]
struct KeystoreFile {
    version: u8,
    kind: String,
    public: String,
    secret: String,
}

const KIND: &str = "cairn-x25519";

/// Writes `secret` to a new keystore at `path`, creating parent directories.
pub fn create(path: &Path, secret: &SecretKey) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let contents = KeystoreFile {
        version: 1,
        kind: KIND.into(),
        public: secret.public_key().to_string(),
        secret: format!("0x{}", hex::encode(secret.to_bytes())),
    };
    let json = serde_json::to_vec_pretty(&contents).expect("keystore serialises");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::KeystoreExists(path.to_path_buf()),
            _ => io(e),
        })?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(io)
}

/// Loads the key at `path`, refusing files readable by anyone but the owner.
pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let malformed = |reason: String| KeyError::MalformedKeystore {
        path: path.to_path_buf(),
        reason,
    };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes = fs::read(path).map_err(io)?;
    let file: KeystoreFile =
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    if file.version != 1 || file.kind != KIND {
        return Err(malformed(format!(
            "unsupported kind {:?} version {}",
            file.kind, file.version
        )));
    }
    let secret =
        SecretKey::from_bytes(parse_hex32(&file.secret).map_err(|e| malformed(e.to_string()))?);
    let public: PublicKey = file
        .public
        .parse()
        .map_err(|e: KeyError| malformed(e.to_string()))?;
    if secret.public_key() != public {
        return Err(malformed("public key does not match the secret".into()));
    }
    Ok(secret)
}

/// Where the keystore for `address` lives inside a data directory.
pub fn default_path(data_dir: &Path, address: alloy::primitives::Address) -> PathBuf {
    data_dir.join("keys").join(format!("{address:#x}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/key.json");
        let secret = SecretKey::generate(&mut rand::thread_rng());
        create(&path, &secret).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load(&path).unwrap().public_key(), secret.public_key());
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let first = SecretKey::generate(&mut rand::thread_rng());
        create(&path, &first).unwrap();
        let second = SecretKey::generate(&mut rand::thread_rng());
        assert!(matches!(
            create(&path, &second),
            Err(KeyError::KeystoreExists(_))
        ));
        assert_eq!(load(&path).unwrap().public_key(), first.public_key());
    }

    #[test]
    fn refuses_group_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        create(&path, &SecretKey::generate(&mut rand::thread_rng())).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            load(&path),
            Err(KeyError::InsecurePermissions { mode: 0o640, .. })
        ));
    }

    #[test]
    fn refuses_mismatched_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        create(&path, &SecretKey::generate(&mut rand::thread_rng())).unwrap();
        let mut file: KeystoreFile = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        file.public = SecretKey::generate(&mut rand::thread_rng())
            .public_key()
            .to_string();
        fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(matches!(
            load(&path),
            Err(KeyError::MalformedKeystore { .. })
        ));
    }
}
