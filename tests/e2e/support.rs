//! Helpers: a world of fakes plus a config, and running the binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use connector_fakes::{DropboxConfig, FakeDropbox, FakeOomnitza, OomnitzaConfig, Team};

pub const DROPBOX_TOKEN: &str = "sl.e2e-dropbox-secret-7f3a";
pub const OOMNITZA_TOKEN: &str = "e2e-oomnitza-secret-91bc";

/// The component built by `cargo build --release --target wasm32-wasip2 -p dropbox-connector`.
pub fn component() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/dropbox_connector.wasm");
    assert!(
        p.is_file(),
        "{} is missing: run `scripts/dev test` (it builds the component first)",
        p.display()
    );
    p
}

pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-component-cache")
}

/// Fakes on loopback and a folder with a config pointing at them.
pub struct World {
    pub dropbox: FakeDropbox,
    pub oomnitza: FakeOomnitza,
    pub dir: tempfile::TempDir,
    /// Extra TOML appended to the generated config.
    pub extra: String,
    /// Replacements applied to the generated config.
    pub edits: Vec<(String, String)>,
}

impl World {
    pub fn new(members: usize) -> World {
        Self::with_team(Team::generate(members, 42))
    }

    pub fn with_team(team: Team) -> World {
        Self::with_dropbox(DropboxConfig::new(team, DROPBOX_TOKEN))
    }

    pub fn with_dropbox(cfg: DropboxConfig) -> World {
        let dropbox = FakeDropbox::start(cfg).expect("fake Dropbox starts");
        let oomnitza =
            FakeOomnitza::start(OomnitzaConfig::new(OOMNITZA_TOKEN)).expect("fake Oomnitza starts");
        let dir = tempfile::tempdir().expect("temp dir");
        oomnitza_connect::credentials::write_secrets_file(
            &dir.path().join("secrets.toml"),
            &[
                ("dropbox_token", DROPBOX_TOKEN),
                ("oomnitza_token", OOMNITZA_TOKEN),
            ],
        )
        .expect("secrets file");
        World {
            dropbox,
            oomnitza,
            dir,
            extra: String::new(),
            edits: vec![],
        }
    }

    /// Changes the generated config: `from` must occur in it.
    pub fn edit(&mut self, from: &str, to: &str) -> &mut Self {
        self.edits.push((from.into(), to.into()));
        self
    }

    pub fn append(&mut self, toml: &str) -> &mut Self {
        self.extra.push_str(toml);
        self
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("oomnitza-connect.toml")
    }

    pub fn write_config(&self) -> PathBuf {
        let mut text = oomnitza_connect::example_config::example_config(
            &component(),
            &self.dropbox.url(),
            &self.oomnitza.url(),
        );
        text = text.replace(
            "[component]\n",
            &format!(
                "[component]\ncache_dir = {:?}\n",
                cache_dir().display().to_string()
            ),
        );
        for (from, to) in &self.edits {
            assert!(
                text.contains(from.as_str()),
                "config has no {from:?}:\n{text}"
            );
            text = text.replacen(from.as_str(), to, 1);
        }
        // A [mapping] that chooses the role itself replaces the demo's
        // `oomnitza.role` (the host refuses a role given twice).
        if self.extra.contains("target = \"PERMISSIONS_ID\"") {
            text = text.replacen("\nrole = 25 ", "\n# role chosen in [mapping] ", 1);
        }
        text.push_str(&self.extra);
        let path = self.config_path();
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Runs the binary with this world's config.
    pub fn run(&self, args: &[&str]) -> Run {
        let config = self.write_config();
        run_bin(args, Some(&config), &[])
    }
}

pub struct Run {
    pub output: Output,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.output.status.success()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.ok(),
            "command failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_fails_with(&self, needle: &str) -> &Self {
        assert!(
            !self.ok(),
            "command should fail:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr should mention {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts no secret appears in anything the command printed.
    #[track_caller]
    pub fn assert_no_secrets(&self) -> &Self {
        for secret in [DROPBOX_TOKEN, OOMNITZA_TOKEN] {
            assert!(!self.stdout.contains(secret), "secret in stdout");
            assert!(!self.stderr.contains(secret), "secret in stderr");
        }
        self
    }
}

pub fn run_bin(args: &[&str], config: Option<&Path>, env: &[(&str, &str)]) -> Run {
    run_bin_with_stdin(args, config, env, None)
}

pub fn run_bin_with_stdin(
    args: &[&str],
    config: Option<&Path>,
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oomnitza-connect"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args)
        .env_remove("OOMNITZA_CONNECT_CONFIG")
        .env_remove("RUST_LOG")
        .env("XDG_CACHE_HOME", cache_dir().join("xdg"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = match stdin {
        None => cmd.output().expect("run oomnitza-connect"),
        Some(input) => {
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn oomnitza-connect");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
            child.wait_with_output().expect("wait for oomnitza-connect")
        }
    };
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        output,
    }
}
