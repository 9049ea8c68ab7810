//! Secrets: where they come from, and a type that never shows them.
//!
//! A [`Secret`] redacts itself in `Debug` and `Display` and zeroes its memory
//! on drop. Secrets come from environment variables or from a local secrets
//! file that only its owner may read (refused otherwise, as ssh does).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub mod oauth;

pub use crate::config::SecretSource;
pub use oauth::{Bearer, OAuthError, OAuthRefresher};

/// A credential value. Only [`Secret::expose`] reveals it, at the one place
/// it goes on the wire.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself, for building an outgoing header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("environment variable {0} is not set (or is empty)")]
    MissingEnv(String),
    #[error("cannot read secrets file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "secrets file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("secrets file {path} is not valid TOML (`key = \"value\"` lines): {message}")]
    Parse { path: PathBuf, message: String },
    #[error("secrets file {path} has no key `{key}`")]
    MissingKey { path: PathBuf, key: String },
}

impl SecretSource {
    /// Reads the secret. `base` resolves a relative secrets-file path (the
    /// config file's folder).
    pub fn load(&self, base: &Path) -> Result<Secret, CredentialError> {
        match self {
            SecretSource::Env { env } => match std::env::var(env) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
                _ => Err(CredentialError::MissingEnv(env.clone())),
            },
            SecretSource::File { file, key } => {
                let path = base.join(file);
                let mut table = read_secrets_file(&path)?;
                match table.remove(key) {
                    Some(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
                    _ => Err(CredentialError::MissingKey {
                        path,
                        key: key.clone(),
                    }),
                }
            }
        }
    }
}

/// Reads a `key = "value"` TOML file after checking nobody else can read it.
fn read_secrets_file(path: &Path) -> Result<BTreeMap<String, Zeroizing<String>>, CredentialError> {
    check_private(path)?;
    let text =
        Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| CredentialError::Read {
                path: path.to_path_buf(),
                source,
            })?,
        );
    // toml's errors quote the offending line or value, which may be a
    // secret: say only where, and what shape was expected.
    let table: toml::Table = toml::from_str(&text).map_err(|e| CredentialError::Parse {
        path: path.to_path_buf(),
        message: format!(
            "{}: expected `key = \"value\"` lines",
            crate::config::toml_location(&text, e.span())
        ),
    })?;
    let mut out = BTreeMap::new();
    for (k, v) in table {
        match v {
            toml::Value::String(v) => {
                out.insert(k, Zeroizing::new(v));
            }
            other => {
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with(k.as_str()))
                    .map_or(String::new(), |i| format!(" (line {})", i + 1));
                let kind = other.type_str();
                // The value itself is dropped unseen (and is not zeroized:
                // toml owns it; it was never a usable secret).
                return Err(CredentialError::Parse {
                    path: path.to_path_buf(),
                    message: format!(
                        "key `{k}`{line} must be a quoted string, found a {kind} (the value is not shown); write {k} = \"…\""
                    ),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), CredentialError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| CredentialError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), CredentialError> {
    Ok(())
}

/// Adds or replaces one key of a secrets file, keeping the others, and
/// leaves the file readable only by its owner.
pub fn store_secret(path: &Path, key: &str, value: &str) -> Result<(), CredentialError> {
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(CredentialError::Parse {
            path: path.to_path_buf(),
            message: format!("`{key}` is not a valid key (letters, digits, `_` and `-`)"),
        });
    }
    let mut table = if path.exists() {
        read_secrets_file(path)?
    } else {
        BTreeMap::new()
    };
    table.insert(key.to_string(), Zeroizing::new(value.to_string()));
    let entries: Vec<(&str, &str)> = table
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    write_secrets_file(path, &entries).map_err(|source| CredentialError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a secrets file readable only by its owner.
pub fn write_secrets_file(path: &Path, entries: &[(&str, &str)]) -> std::io::Result<()> {
    let mut text = String::new();
    for (k, v) in entries {
        let v = Zeroizing::new(toml::Value::String((*v).to_string()).to_string());
        text.push_str(&format!("{k} = {}\n", v.as_str()));
    }
    let text = Zeroizing::new(text);
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    std::fs::write(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("sl.very-secret".into());
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}").contains("very-secret"));
        assert_eq!(s.expose(), "sl.very-secret");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_secrets_file_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.toml");
        write_secrets_file(&path, &[("dropbox", "tok")]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let src = SecretSource::File {
            file: "secrets.toml".into(),
            key: "dropbox".into(),
        };
        let err = src.load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(err.contains("secrets.toml"), "{err}");
    }

    #[test]
    fn reads_private_secrets_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        write_secrets_file(&path, &[("dropbox", "tok\"en")]).unwrap();
        let src = SecretSource::File {
            file: path.clone(),
            key: "dropbox".into(),
        };
        assert_eq!(src.load(dir.path()).unwrap().expose(), "tok\"en");
        let missing = SecretSource::File {
            file: path,
            key: "nope".into(),
        };
        assert!(
            missing
                .load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("`nope`")
        );
    }

    #[test]
    fn store_secret_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        store_secret(&path, "a", "1").unwrap();
        store_secret(&path, "b", "2").unwrap();
        store_secret(&path, "a", "3").unwrap();
        let t = read_secrets_file(&path).unwrap();
        assert_eq!(t["a"].as_str(), "3");
        assert_eq!(t["b"].as_str(), "2");
        assert!(store_secret(&path, "bad key", "x").is_err());
    }

    #[test]
    fn parse_errors_do_not_echo_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        write_secrets_file(&path, &[]).unwrap();
        std::fs::write(&path, "dropbox = sl.secret-without-quotes\n").unwrap();
        let src = SecretSource::File {
            file: path,
            key: "dropbox".into(),
        };
        let err = src.load(dir.path()).unwrap_err().to_string();
        assert!(!err.contains("sl.secret"), "{err}");
    }
}
