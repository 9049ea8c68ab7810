//! A secret's reference, as the config file writes it: where the value is
//! read from, never the value. Reading it (into a redacting `Secret`) is
//! `credentials`' job; the config only parses and names it.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a credential is read from, as written in the config file. A
/// secret written inline is refused, and the error never repeats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `{ env = "DROPBOX_TOKEN" }`
    Env { env: String },
    /// `{ file = "secrets.toml", key = "dropbox_token" }`
    File { file: PathBuf, key: String },
}

/// What an inline value gets told instead of its own value back.
const INLINE_SECRET: &str = "a secret cannot be written in the config file: use { env = \"VARIABLE\" } or { file = \"secrets.toml\", key = \"name\" } (the value is not shown)";

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{ env = \"VARIABLE\" } or { file = \"secrets.toml\", key = \"name\" }")
            }
            // Every scalar is an inline secret: refuse it without echoing.
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                _: A,
            ) -> Result<SecretSource, A::Error> {
                Err(serde::de::Error::custom(INLINE_SECRET))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SecretSource, A::Error> {
                use serde::de::Error;
                let (mut env, mut file, mut key) = (None, None, None);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "env" => env = Some(map.next_value::<String>()?),
                        "file" => file = Some(map.next_value::<PathBuf>()?),
                        "key" => key = Some(map.next_value::<String>()?),
                        other => {
                            return Err(A::Error::custom(format!(
                                "unknown key `{other}`: expected {{ env = \"VARIABLE\" }} or {{ file = \"secrets.toml\", key = \"name\" }}"
                            )));
                        }
                    }
                }
                match (env, file, key) {
                    (Some(env), None, None) => Ok(SecretSource::Env { env }),
                    (None, Some(file), Some(key)) => Ok(SecretSource::File { file, key }),
                    _ => Err(A::Error::custom(
                        "expected { env = \"VARIABLE\" } or { file = \"secrets.toml\", key = \"name\" }",
                    )),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env { env } => write!(f, "environment variable {env}"),
            SecretSource::File { file, key } => write!(f, "key `{key}` of {}", file.display()),
        }
    }
}
