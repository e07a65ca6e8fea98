//! The Debian packages integration tests take their servers and clients
//! from, in one list: a smart-HTTP Git server (`git-http-backend` behind
//! `lighttpd`), an SSH Git server (`sshd`), and the clients the tests and
//! the Git server's webhook hook run (`ssh`, `curl`, `openssl`), and a
//! headless browser for the agent's status page (`chromium`).
//!
//! `cargo xtask test`, `demo` and `testenv up` install what is missing with
//! `apt-get install -y --no-install-recommends` (as root, else through
//! `sudo`), and skip apt entirely when every package's binary is there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::ui;

/// One Debian package: the file that shows it is installed, and the
/// environment variable (if any) that gives tests that file's path.
pub struct Package {
    pub name: &'static str,
    pub path: &'static str,
    pub env: Option<&'static str>,
}

/// Every Debian package the tests need.
pub const PACKAGES: [Package; 7] = [
    Package {
        name: "git",
        path: "/usr/lib/git-core/git-http-backend",
        env: Some("WEIR_GIT_HTTP_BACKEND"),
    },
    Package {
        name: "lighttpd",
        path: "/usr/sbin/lighttpd",
        env: Some("WEIR_LIGHTTPD"),
    },
    Package {
        name: "openssh-server",
        path: "/usr/sbin/sshd",
        env: Some("WEIR_SSHD"),
    },
    Package {
        name: "openssh-client",
        path: "/usr/bin/ssh-keygen",
        env: None,
    },
    Package {
        name: "curl",
        path: "/usr/bin/curl",
        env: None,
    },
    Package {
        name: "openssl",
        path: "/usr/bin/openssl",
        env: None,
    },
    Package {
        name: "chromium",
        path: "/usr/bin/chromium",
        env: Some("WEIR_CHROMIUM"),
    },
];

/// The variables tests read: `WEIR_LIGHTTPD=/usr/sbin/lighttpd`, ...
pub fn env() -> Vec<(&'static str, PathBuf)> {
    PACKAGES
        .iter()
        .filter_map(|p| p.env.map(|var| (var, PathBuf::from(p.path))))
        .collect()
}

/// The packages whose binary is not on this machine.
fn missing() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .filter(|p| !Path::new(p.path).is_file())
        .map(|p| p.name)
        .collect()
}

/// Installs the missing packages; a no-op (no apt call) when none is.
pub fn ensure() -> Result<()> {
    ui::step("Debian packages of the tests' servers");
    let missing = missing();
    if missing.is_empty() {
        ui::info(&format!(
            "all present: {}",
            PACKAGES.map(|p| p.name).join(", ")
        ));
        return Ok(());
    }
    let started = Instant::now();
    let install = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    let sudo = if nix::unistd::geteuid().is_root() {
        false
    } else if which("sudo") {
        true
    } else {
        bail!(
            "the tests need the Debian packages {}, which are missing; this user is not root \
             and there is no sudo: install them as root with `{install}`",
            missing.join(", ")
        );
    };
    if !which("apt-get") {
        bail!(
            "the tests need the Debian packages {} (for {}), which are missing, and this \
             machine has no apt-get: install them or their equivalents",
            missing.join(", "),
            PACKAGES
                .iter()
                .filter(|p| missing.contains(&p.name))
                .map(|p| p.path)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    ui::info(&format!(
        "installing {}{}",
        missing.join(", "),
        if sudo { " (through sudo)" } else { "" }
    ));
    // Package lists may be absent (a fresh image) or stale (their .debs
    // gone from the mirror): update first when absent, and once more
    // before a second try when the install fails.
    if !has_package_lists() {
        apt(sudo, &["update", "-q"])?;
    }
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    if apt(sudo, &args).is_err() {
        ui::info("apt-get install failed; updating the package lists and trying again");
        apt(sudo, &["update", "-q"])?;
        apt(sudo, &args).with_context(|| format!("`{install}` failed"))?;
    }
    let still = self::missing();
    if !still.is_empty() {
        bail!(
            "apt-get installed {} but these are still missing: {}",
            missing.join(", "),
            PACKAGES
                .iter()
                .filter(|p| still.contains(&p.name))
                .map(|p| p.path)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    ui::done(
        &format!("installed {}", missing.join(", ")),
        started.elapsed(),
    );
    Ok(())
}

/// Runs `apt-get args...` non-interactively, its output on stderr (stdout
/// stays clean for scripts).
fn apt(sudo: bool, args: &[&str]) -> Result<()> {
    let mut cmd = if sudo {
        let mut cmd = Command::new("sudo");
        cmd.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        cmd
    } else {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()));
    let status = cmd
        .status()
        .with_context(|| format!("running apt-get {}", args.join(" ")))?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether apt has downloaded package lists at all.
fn has_package_lists() -> bool {
    std::fs::read_dir("/var/lib/apt/lists").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    })
}

/// Whether `name` is an executable on PATH.
fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_names_an_absolute_path_once() {
        let env = env();
        let with_env = PACKAGES.iter().filter(|p| p.env.is_some()).count();
        assert_eq!(env.len(), with_env);
        for (var, path) in &env {
            assert!(var.starts_with("WEIR_"), "{var}");
            assert!(path.is_absolute(), "{}", path.display());
        }
        let mut names: Vec<&str> = PACKAGES.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PACKAGES.len());
    }
}
