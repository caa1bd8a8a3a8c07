//! A random messaging key kept in an encrypted keystore file.
//!
//! The file is Web3 Secret Storage version 3 (scrypt, AES-128-CTR, a
//! Keccak MAC), the format Ethereum tools already use for wallet keys, via
//! the `eth-keystore` crate. It is created with mode 0600 inside a 0700
//! directory and never overwritten; loading refuses a file that group or
//! others can read, as ssh does for private keys. Keystores of Cairn's
//! first, unencrypted format (`kind: cairn-x25519`) still load, with a
//! warning to re-create them.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use super::{KeyError, PublicKey, SecretKey};

/// Cairn's first keystore format: the secret in clear.
#[derive(Deserialize)]
struct PlainKeystore {
    version: u8,
    kind: String,
    public: String,
    secret: String,
}

const PLAIN_KIND: &str = "cairn-x25519";

fn io(path: &Path) -> impl Fn(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Encrypts `secret` under `passphrase` into a new keystore at `path`; its
/// directory is created 0700 if needed. An existing file is never replaced.
pub fn create(path: &Path, secret: &SecretKey, passphrase: &str) -> Result<(), KeyError> {
    create_bytes(path, &secret.to_bytes(), passphrase)
}

/// As [`create`], for any 32-byte secret (a device signer's secp256k1 key).
pub fn create_bytes(path: &Path, secret: &[u8; 32], passphrase: &str) -> Result<(), KeyError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(path))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(path))?;
    if path.exists() {
        return Err(KeyError::KeystoreExists(path.to_path_buf()));
    }
    // Written under a temporary name (in the 0700 directory, so never
    // readable by others), restricted to 0600, then linked into place:
    // linking fails if the name was taken meanwhile.
    let tmp = format!(".tmp-{}", hex::encode(rand::random::<[u8; 8]>()));
    eth_keystore::encrypt_key(dir, &mut rand::rngs::OsRng, secret, passphrase, Some(&tmp))
        .map_err(|e| KeyError::MalformedKeystore {
            path: path.to_path_buf(),
            reason: format!("encrypting: {e}"),
        })?;
    let tmp = dir.join(tmp);
    let placed = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
        .and_then(|()| fs::File::open(&tmp)?.sync_all())
        .and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    placed.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::KeystoreExists(path.to_path_buf()),
        _ => io(path)(e),
    })
}

/// Loads the key at `path`, asking `passphrase` only if the file is
/// encrypted; refuses files readable by anyone but the owner.
pub fn load(
    path: &Path,
    passphrase: impl FnOnce() -> Result<String, KeyError>,
) -> Result<SecretKey, KeyError> {
    let malformed = |reason: String| KeyError::MalformedKeystore {
        path: path.to_path_buf(),
        reason,
    };
    check_mode(path)?;
    let bytes = fs::read(path).map_err(io(path))?;
    if let Ok(plain) = serde_json::from_slice::<PlainKeystore>(&bytes) {
        if plain.version != 1 || plain.kind != PLAIN_KIND {
            return Err(malformed(format!(
                "unsupported kind {:?} version {}",
                plain.kind, plain.version
            )));
        }
        tracing::warn!(path = %path.display(), "this keystore is not encrypted; move it aside and run `cairn key new`");
        let secret = SecretKey::from_hex(&plain.secret).map_err(|e| malformed(e.to_string()))?;
        let public: PublicKey = plain
            .public
            .parse()
            .map_err(|e: KeyError| malformed(e.to_string()))?;
        if secret.public_key() != public {
            return Err(malformed("public key does not match the secret".into()));
        }
        return Ok(secret);
    }
    load_encrypted(path, passphrase).map(SecretKey::from_bytes)
}

/// The 32-byte secret of the encrypted keystore at `path`, which must be
/// readable by its owner alone.
pub fn load_bytes(
    path: &Path,
    passphrase: impl FnOnce() -> Result<String, KeyError>,
) -> Result<[u8; 32], KeyError> {
    check_mode(path)?;
    load_encrypted(path, passphrase)
}

/// Refuses a file that group or others can read, as ssh does.
pub fn check_mode(path: &Path) -> Result<(), KeyError> {
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn load_encrypted(
    path: &Path,
    passphrase: impl FnOnce() -> Result<String, KeyError>,
) -> Result<[u8; 32], KeyError> {
    let malformed = |reason: String| KeyError::MalformedKeystore {
        path: path.to_path_buf(),
        reason,
    };
    let passphrase = passphrase()?;
    let secret = eth_keystore::decrypt_key(path, passphrase).map_err(|e| match e {
        eth_keystore::KeystoreError::MacMismatch => KeyError::WrongPassphrase(path.to_path_buf()),
        other => malformed(other.to_string()),
    })?;
    secret
        .try_into()
        .map_err(|_| malformed("the secret is not 32 bytes".into()))
}

/// Where the keystore for `address` lives inside a data directory.
pub fn default_path(data_dir: &Path, address: alloy::primitives::Address) -> PathBuf {
    data_dir.join("keys").join(format!("{address:#x}.json"))
}

/// Where the device signer of wallet `address` lives inside a data directory.
pub fn signer_path(data_dir: &Path, address: alloy::primitives::Address) -> PathBuf {
    data_dir
        .join("keys")
        .join(format!("{address:#x}.signer.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_passphrase() -> Result<String, KeyError> {
        Err(KeyError::NoPassphrase(PathBuf::new()))
    }

    #[test]
    fn encrypts_reloads_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("me.json");
        let secret = SecretKey::generate(&mut rand::thread_rng());
        create(&path, &secret, "correct horse").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"scrypt\""), "{text}");
        assert!(
            !text.contains(&hex::encode(secret.to_bytes())),
            "the secret is in clear"
        );
        let loaded = load(&path, || Ok("correct horse".into())).unwrap();
        assert_eq!(loaded.public_key(), secret.public_key());
        assert!(matches!(
            load(&path, || Ok("wrong".into())),
            Err(KeyError::WrongPassphrase(_))
        ));
        assert!(matches!(
            load(&path, no_passphrase),
            Err(KeyError::NoPassphrase(_))
        ));
        assert!(matches!(
            create(&path, &secret, "x"),
            Err(KeyError::KeystoreExists(_))
        ));
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temporary file is left behind"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load(&path, || Ok("correct horse".into())),
            Err(KeyError::InsecurePermissions { .. })
        ));
    }

    #[test]
    fn loads_the_first_unencrypted_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.json");
        let secret = SecretKey::generate(&mut rand::thread_rng());
        let json = serde_json::json!({"version": 1, "kind": PLAIN_KIND,
            "public": secret.public_key().to_string(),
            "secret": format!("0x{}", hex::encode(secret.to_bytes()))});
        fs::write(&path, json.to_string()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            load(&path, no_passphrase).unwrap().public_key(),
            secret.public_key()
        );
    }
}
