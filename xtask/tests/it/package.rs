//! `cargo xtask package` and `cargo xtask repo`: packages made from a release whose Linux archives
//! come from the real CoreCLR test runtime, judged by the consumers' tools — dpkg-deb, lintian,
//! rpm -K, rpmlint, apt-get against the published `file:` repository with `signed-by`, dnf with
//! `--installroot` and the published `.repo`, `rpm --root -i` — and the installed runtime runs a
//! compiled app.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sha2::{Digest, Sha512};
use support::{code, json, stderr, stdout, xtask};
use xtask::channel::{Channel, Distribution, Record};
use xtask::compat::testenv;
use xtask::package::{self, Format};
use xtask::release::sign::{self, GpgHome, Signer, SigningKey};
use xtask::repository::{self, PublishOptions, Tree};

const VERSION: &str = "6.0.37";
const PACKAGE_VERSION: &str = "6.0.37-1.els";
const DATE: &str = "2026-11-20";

/// lintian tags allowed, each for a reason that holds for Microsoft's own packages too:
const LINTIAN_ALLOWED: &[&str] = &[
    // The install root is Microsoft's /usr/share/dotnet (the point: same root, same names).
    "arch-dependent-file-in-usr-share",
    // Nothing is stripped or rewritten: the runtime ships exactly as built.
    "unstripped-binary-or-object",
    // The `dotnet` muxer has no manual page upstream.
    "no-manual-page",
    // CoreCLR's native libraries are dlopen'ed by path, not linked: no shlibs/SONAME handling.
    "shared-library-lacks-prerequisites",
    "shared-library-lacks-version",
    "library-not-linked-against-libc",
    "exit-in-shared-library",
    "shlib-without-versioned-soname",
    "sharedobject-in-library-directory-missing-soname",
    // ELF files keep their execute bits, as in Microsoft's archives (nothing is rewritten).
    "shared-library-is-executable",
    // The libraries the muxer, hostfxr and the runtime link (libc, libstdc++, libgcc) are
    // dependencies of dotnet-runtime-deps-6.0, which the runtime depends on, as in Microsoft's
    // packages: the split is Microsoft's, not Debian's per-binary shlibs.
    "missing-dependency-on-libc",
    "undeclared-elf-prerequisites",
    // Upstream's notice (LICENSE.txt: "Copyright (c) .NET Foundation and Contributors") has no
    // year, and the copyright file does not invent one.
    "copyright-without-copyright-notice",
    // dotnet-runtime-deps-6.0 holds only dependencies, like Microsoft's.
    "empty-binary-package",
    // Packages built outside a Debian source package: no source changelog/distribution to match.
    "no-changelog",
    "hardening-no-fortify-functions",
    "hardening-no-bindnow",
    "hardening-no-pie",
    "spelling-error-in-binary",
    "embedded-library",
    "binary-has-unneeded-section",
    "package-contains-no-arch-dependent-files",
    "extended-description-is-probably-too-short",
];

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    release: PathBuf,
    config: xtask::config::Config,
    secret: String,
    public_key: PathBuf,
    fingerprint: String,
    report: package::Report,
    runtimes: testenv::TestRuntimes,
}

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// One signed release from the real runtime, packaged in both formats (shared by the tests).
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtimes = testenv::from_env_or_ensure(&testenv::cache_dir(&target()))
            .unwrap_or_else(|e| panic!("the package tests need the real test runtimes: {e:#}"));
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let (config, release) =
            package::demo::release_from_test_runtime(&root, &runtimes.dotnet_root, DATE).unwrap();
        let home = GpgHome::temporary().unwrap();
        let (secret, public, fingerprint) =
            sign::throwaway_key(&home, "net6-els test <test@example.org>").unwrap();
        let public_key = root.join("net6-els.asc");
        std::fs::write(&public_key, public).unwrap();
        let key = SigningKey::Armored(secret.clone());
        sign::sign(&release, &key, None).unwrap();
        let signer = Signer::new(&key, None).unwrap();
        let report = package::package(
            &config,
            &package::Options {
                release: Some(release.clone()),
                quiet: true,
                ..Default::default()
            },
            Some(&signer),
        )
        .unwrap();
        Setup {
            _tmp: tmp,
            root,
            release,
            config,
            secret,
            public_key,
            fingerprint,
            report,
            runtimes,
        }
    })
}

/// A copy of the shared release in `to`. Other tests publish that release at the same time, so
/// it is copied under the release's lock, whole.
fn copy_of_release(s: &Setup, to: &Path) -> PathBuf {
    let _release_lock = xtask::release::lock(&s.release).unwrap();
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(&s.release).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to.to_path_buf()
}

/// `release verify` of the shared release with its key finds nothing (under the release's lock:
/// other tests publish it at the same time).
fn assert_the_release_verifies(s: &Setup) {
    let _release_lock = xtask::release::lock(&s.release).unwrap();
    let verified = xtask::release::verify::verify(
        &s.release,
        &xtask::release::verify::TrustedKey::File(s.public_key.clone()),
    )
    .unwrap();
    assert!(verified.problems.is_empty(), "{:?}", verified.problems);
}

fn signer(s: &Setup) -> Signer {
    Signer::new(&SigningKey::Armored(s.secret.clone()), None).unwrap()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn file(s: &Setup, name: &str, format: Format) -> PathBuf {
    let p = s
        .report
        .packages
        .iter()
        .find(|p| p.name == name && p.format == format)
        .unwrap_or_else(|| panic!("no {format} of {name}"));
    s.release.join(&p.file)
}

fn files(s: &Setup, format: Format) -> Vec<String> {
    s.report
        .packages
        .iter()
        .filter(|p| p.format == format)
        .map(|p| s.release.join(&p.file).display().to_string())
        .collect()
}

/// Every file under `dir` with its hash (symbolic links by target): the whole state of a tree.
/// The publish lock's file is left out: it only names the last process that took the lock, it is
/// not part of what is served.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != xtask::publish_lock::FILE_NAME)
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            let what = if e.path_is_symlink() {
                std::fs::read_link(e.path()).unwrap().display().to_string()
            } else if e.file_type().is_file() {
                format!("{:x}", Sha512::digest(std::fs::read(e.path()).unwrap()))
            } else {
                "dir".to_string()
            };
            (rel, what)
        })
        .collect()
}

#[test]
fn packages_are_split_like_microsofts_and_pass_dpkg_lintian_rpm_and_rpmlint() {
    let s = setup();
    let names: Vec<&str> = s
        .report
        .packages
        .iter()
        .filter(|p| p.format == Format::Deb)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "dotnet-host",
            "dotnet-hostfxr-6.0",
            "dotnet-runtime-deps-6.0",
            "dotnet-runtime-6.0",
            "aspnetcore-runtime-6.0"
        ]
    );
    assert_eq!(s.report.package_version, PACKAGE_VERSION);

    // dpkg-deb reads what we wrote: control fields, dependencies, files and their modes.
    let runtime = file(s, "dotnet-runtime-6.0", Format::Deb)
        .display()
        .to_string();
    let info = ok("dpkg-deb", &["--info", &runtime]);
    assert!(
        info.contains(&format!("Version: {PACKAGE_VERSION}")),
        "{info}"
    );
    assert!(info.contains("Maintainer: net6-els maintainers"), "{info}");
    assert!(
        info.contains(&format!(
            "Depends: dotnet-runtime-deps-6.0 (>= {PACKAGE_VERSION}), dotnet-hostfxr-6.0 (>= {PACKAGE_VERSION})"
        )),
        "{info}"
    );
    let contents = ok("dpkg-deb", &["--contents", &runtime]);
    let coreclr = contents
        .lines()
        .find(|l| {
            l.ends_with(&format!(
                "./usr/share/dotnet/shared/Microsoft.NETCore.App/{VERSION}/libcoreclr.so"
            ))
        })
        .unwrap_or_else(|| panic!("{contents}"));
    assert!(coreclr.starts_with("-rwxr-xr-x root/root"), "{coreclr}");
    let deps = ok(
        "dpkg-deb",
        &[
            "--field",
            &file(s, "dotnet-runtime-deps-6.0", Format::Deb)
                .display()
                .to_string(),
            "Depends",
        ],
    );
    for d in [
        "libc6",
        "libssl3 | libssl1.1",
        "libicu72",
        "libgssapi-krb5-2",
        "zlib1g",
    ] {
        assert!(deps.contains(d), "{d}: {deps}");
    }
    let host = ok(
        "dpkg-deb",
        &[
            "--contents",
            &file(s, "dotnet-host", Format::Deb).display().to_string(),
        ],
    );
    assert!(
        host.contains("./usr/bin/dotnet -> ../share/dotnet/dotnet"),
        "{host}"
    );

    // Our version sorts above Microsoft's last package under both dpkg's and rpm's rules.
    ok(
        "dpkg",
        &["--compare-versions", PACKAGE_VERSION, "gt", "6.0.36-1"],
    );
    let cmp = ok(
        "rpm",
        &[
            "--eval",
            &format!("%{{lua: print(rpm.vercmp('{PACKAGE_VERSION}', '6.0.36-1'))}}"),
        ],
    );
    assert_eq!(cmp.trim(), "1", "rpm says {cmp}");

    let mut lintian = vec!["--tag-display-limit", "0", "--suppress-tags"];
    let allowed = LINTIAN_ALLOWED.join(",");
    lintian.push(&allowed);
    let debs = files(s, Format::Deb);
    lintian.extend(debs.iter().map(String::as_str));
    let out = run("lintian", &lintian);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && !report
                .lines()
                .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "lintian: {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // rpm: metadata says who built it; the signature checks against the public key in a private
    // database, and a flipped byte fails.
    let rpm_runtime = file(s, "dotnet-runtime-6.0", Format::Rpm)
        .display()
        .to_string();
    let q = ok("rpm", &["-qip", &rpm_runtime]);
    assert!(q.contains("Vendor      : net6-els"), "{q}");
    assert!(q.contains("Packager    : net6-els maintainers"), "{q}");
    assert!(q.contains("Release     : 1.els"), "{q}");
    let db = tempfile::tempdir().unwrap();
    let dbpath = db.path().display().to_string();
    ok(
        "rpm",
        &[
            "--dbpath",
            &dbpath,
            "--import",
            &s.public_key.display().to_string(),
        ],
    );
    let k = ok("rpm", &["--dbpath", &dbpath, "-Kv", &rpm_runtime]);
    assert!(
        k.contains("Header V4 EdDSA/SHA256 Signature") || k.contains("Signature, key ID"),
        "{k}"
    );
    assert!(!k.contains("NOKEY") && !k.contains("BAD"), "{k}");
    let mut bytes = std::fs::read(&rpm_runtime).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let flipped = db.path().join("flipped.rpm");
    std::fs::write(&flipped, bytes).unwrap();
    let bad = run(
        "rpm",
        &["--dbpath", &dbpath, "-K", &flipped.display().to_string()],
    );
    assert!(
        !bad.status.success(),
        "rpm -K accepted a flipped byte: {}",
        String::from_utf8_lossy(&bad.stdout)
    );
    let reqs = ok(
        "rpm",
        &[
            "-qpR",
            &file(s, "dotnet-runtime-deps-6.0", Format::Rpm)
                .display()
                .to_string(),
        ],
    );
    for d in ["glibc", "openssl-libs", "libicu", "krb5-libs", "zlib"] {
        assert!(reqs.lines().any(|l| l.trim() == d), "{d}: {reqs}");
    }
    let files_of = ok("rpm", &["-qplv", &rpm_runtime]);
    assert!(
        files_of
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("/libcoreclr.so")),
        "{files_of}"
    );

    // rpmlint, with the checks that cannot apply (see rpmlintrc) filtered.
    let rc = s.root.join("rpmlintrc");
    std::fs::write(&rc, RPMLINTRC).unwrap();
    let mut args = vec!["-r".to_string(), rc.display().to_string()];
    args.extend(files(s, Format::Rpm));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let lint = run("rpmlint", &args);
    assert!(
        lint.status.success(),
        "rpmlint: {}\n{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // The release lists the packages and still verifies (it was signed before packaging).
    assert!(s.report.resigned);
    assert_the_release_verifies(s);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.release.join("release.json")).unwrap()).unwrap();
    let listed = doc["releases"][0]["runtime"]["files"].to_string()
        + &doc["releases"][0]["aspnetcore-runtime"]["files"].to_string();
    for p in &s.report.packages {
        assert!(
            listed.contains(&p.file) && listed.contains(&p.sha512),
            "{} not in release.json",
            p.file
        );
    }
    assert!(listed.contains("\"rid\":\"linux-x64\""));
}

/// rpmlint checks that do not apply, each with its reason.
const RPMLINTRC: &str = r#"
# Microsoft's install root and layout (same root, same names: the point of these packages).
addFilter("arch-dependent-file-in-usr-share")
# The runtime ships exactly as built: createdump and libmscordbi find their neighbours through
# RUNPATH $ORIGIN, as in Microsoft's archives.
addFilter("binary-or-shlib-defines-rpath")
# Packages built from release archives, not from a spec file: no changelog or source RPM.
addFilter("no-changelogname-tag")
addFilter("no-documentation")
addFilter("no-manual-page-for-binary")
# The header signature is checked by rpm -K against the imported key, not by rpmlint.
addFilter("unknown-key")
# dotnet-runtime-deps-6.0 names the libraries the runtime loads (libicu is dlopen'ed), as
# Microsoft's does, and holds no files.
addFilter("explicit-lib-dependency")
addFilter("no-binary")
"#;

#[test]
fn the_same_inputs_and_source_date_give_identical_packages() {
    let s = setup();
    let copy = copy_of_release(s, &s.root.join("copy-of-release"));
    let again = package::package(
        &s.config,
        &package::Options {
            release: Some(copy.clone()),
            quiet: true,
            ..Default::default()
        },
        Some(&signer(s)),
    )
    .unwrap();
    let first: Vec<(&str, &str)> = s
        .report
        .packages
        .iter()
        .map(|p| (p.file.as_str(), p.sha512.as_str()))
        .collect();
    let second: Vec<(&str, &str)> = again
        .packages
        .iter()
        .map(|p| (p.file.as_str(), p.sha512.as_str()))
        .collect();
    assert_eq!(first, second);
}

fn apt(tree: &Path, channel: &str, keyring: &Path, state: &Path, args: &[&str]) -> Output {
    apt_by(
        "file",
        &AptSource {
            tree,
            channel,
            keyring,
        },
        state,
        args,
    )
}

/// Where apt reads the repository from.
struct AptSource<'a> {
    tree: &'a Path,
    channel: &'a str,
    keyring: &'a Path,
}

/// apt-get with a private state directory and one source, reached by `scheme` (`file` uses the
/// packages in place; `copy` copies them into the cache, as a download from a server would).
fn apt_by(scheme: &str, source: &AptSource, state: &Path, args: &[&str]) -> Output {
    let AptSource {
        tree,
        channel,
        keyring,
    } = source;
    let list = state.join("sources.list");
    std::fs::create_dir_all(state.join("lists/partial")).unwrap();
    std::fs::create_dir_all(state.join("cache/archives/partial")).unwrap();
    std::fs::write(
        &list,
        format!(
            "deb [arch=amd64 signed-by={}] {scheme}://{}/apt {channel} main\n",
            keyring.display(),
            tree.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("apt-get");
    cmd.args([
        "-q",
        "-o",
        &format!("Dir::Etc::sourcelist={}", list.display()),
        "-o",
        "Dir::Etc::sourceparts=-",
        "-o",
        &format!("Dir::State={}", state.display()),
        "-o",
        "Dir::State::status=/var/lib/dpkg/status",
        "-o",
        &format!("Dir::Cache={}", state.join("cache").display()),
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Debug::NoLocking=1",
    ]);
    cmd.args(args);
    cmd.output().expect("apt-get")
}

fn publish(s: &Setup, tree: &Path, channel: Channel) -> repository::Report {
    repository::publish(
        &s.config,
        channel,
        &PublishOptions {
            release: Some(s.release.clone()),
            repo_dir: Some(tree.to_path_buf()),
            date: Some(DATE.into()),
        },
        &signer(s),
    )
    .unwrap()
}

#[test]
fn apt_and_dnf_install_from_the_published_channels_and_the_runtime_runs() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("repo");
    let lab = publish(s, &tree, Channel::Lab);
    assert_eq!((lab.apt.len(), lab.rpm.len()), (5, 5));
    assert_eq!(lab.signer, s.fingerprint);
    let keyring = tree.join(repository::KEY_GPG);

    // APT: update with signed-by and a private state directory, then resolve at our version.
    let state = tmp.path().join("apt-state");
    let update = apt(&tree, "lab", &keyring, &state, &["update"]);
    assert!(
        update.status.success() && !stdout(&update).contains("W:"),
        "apt-get update: {}{}",
        stdout(&update),
        stderr(&update)
    );
    let sim = apt(
        &tree,
        "lab",
        &keyring,
        &state,
        &[
            "install",
            "-s",
            "dotnet-runtime-6.0",
            "aspnetcore-runtime-6.0",
        ],
    );
    let sim_out = stdout(&sim);
    assert!(sim.status.success(), "{sim_out}{}", stderr(&sim));
    for p in [
        "dotnet-host",
        "dotnet-hostfxr-6.0",
        "dotnet-runtime-deps-6.0",
        "dotnet-runtime-6.0",
        "aspnetcore-runtime-6.0",
    ] {
        assert!(
            sim_out.contains(&format!("Inst {p} ({PACKAGE_VERSION} ")),
            "{p}: {sim_out}"
        );
    }
    let copy_state = tmp.path().join("apt-copy");
    let source = AptSource {
        tree: &tree,
        channel: "lab",
        keyring: &keyring,
    };
    let update = apt_by("copy", &source, &copy_state, &["update"]);
    assert!(update.status.success(), "{}", stderr(&update));
    let dl = apt_by(
        "copy",
        &source,
        &copy_state,
        &[
            "install",
            "-y",
            "--download-only",
            "dotnet-host",
            "dotnet-hostfxr-6.0",
        ],
    );
    assert!(dl.status.success(), "{}{}", stdout(&dl), stderr(&dl));
    for p in ["dotnet-host", "dotnet-hostfxr-6.0"] {
        let downloaded = copy_state.join(format!("cache/archives/{p}_{PACKAGE_VERSION}_amd64.deb"));
        assert_eq!(
            std::fs::read(&downloaded).unwrap_or_else(|e| panic!("{}: {e}", downloaded.display())),
            std::fs::read(file(s, p, Format::Deb)).unwrap()
        );
    }

    // A repository signed with another key is rejected, and so is a tampered Packages.
    let other_home = GpgHome::temporary().unwrap();
    let (_, other_public, _) =
        sign::throwaway_key(&other_home, "someone else <x@example.org>").unwrap();
    let other_keyring = tmp.path().join("other.asc");
    std::fs::write(&other_keyring, other_public).unwrap();
    let wrong = apt(
        &tree,
        "lab",
        &other_keyring,
        &tmp.path().join("apt-other"),
        &["update"],
    );
    assert!(
        !wrong.status.success()
            || stdout(&wrong).contains("not signed")
            || stderr(&wrong).contains("NO_PUBKEY"),
        "apt accepted another key: {}{}",
        stdout(&wrong),
        stderr(&wrong)
    );
    assert!(
        stderr(&wrong).contains("NO_PUBKEY") || stderr(&wrong).contains("not signed"),
        "{}",
        stderr(&wrong)
    );
    let tampered = tmp.path().join("tampered");
    ok(
        "cp",
        &[
            "-a",
            &tree.display().to_string(),
            &tampered.display().to_string(),
        ],
    );
    let packages = tampered.join("apt/dists/lab/main/binary-amd64/Packages");
    let text = std::fs::read_to_string(&packages)
        .unwrap()
        .replace("Priority: optional", "Priority: required");
    std::fs::remove_file(&packages).unwrap();
    std::fs::write(&packages, text).unwrap();
    std::fs::remove_file(tampered.join("apt/dists/lab/main/binary-amd64/Packages.gz")).unwrap();
    let bad = apt(
        &tampered,
        "lab",
        &tampered.join(repository::KEY_GPG),
        &tmp.path().join("apt-tampered"),
        &["update"],
    );
    let said = stdout(&bad) + &stderr(&bad);
    assert!(
        !bad.status.success()
            || said.contains("Hash Sum mismatch")
            || said.contains("File has unexpected size"),
        "apt accepted a tampered Packages: {said}"
    );

    // DNF: the published .repo (with its gpgkey) lists our packages and downloads the ones whose
    // dependencies resolve offline; rpm --root installs them all.
    let installroot = tmp.path().join("root");
    let reposdir = tmp.path().join("yum.repos.d");
    std::fs::create_dir_all(&reposdir).unwrap();
    std::fs::create_dir_all(&installroot).unwrap();
    std::fs::copy(&lab.dnf_repo_file, reposdir.join("net6-els-lab.repo")).unwrap();
    let dnf = |args: &[&str]| {
        let mut all = vec![
            "-y".to_string(),
            "-q".to_string(),
            format!("--installroot={}", installroot.display()),
            format!("--setopt=reposdir={}", reposdir.display()),
            format!(
                "--setopt=cachedir={}",
                tmp.path().join("dnf-cache").display()
            ),
            "--releasever=1".to_string(),
            "--disableplugin=*".to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run("dnf", &all)
    };
    let list = dnf(&["list", "--available"]);
    let listed = stdout(&list);
    assert!(list.status.success(), "{listed}{}", stderr(&list));
    for p in [
        "dotnet-host.x86_64",
        "dotnet-runtime-6.0.x86_64",
        "aspnetcore-runtime-6.0.x86_64",
    ] {
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(p) && l.contains(PACKAGE_VERSION)),
            "{p}: {listed}"
        );
    }
    let downloads = tmp.path().join("downloads");
    let dl = dnf(&[
        "install",
        "--downloadonly",
        &format!("--downloaddir={}", downloads.display()),
        "dotnet-host",
        "dotnet-hostfxr-6.0",
    ]);
    assert!(dl.status.success(), "{}{}", stdout(&dl), stderr(&dl));
    for p in ["dotnet-host", "dotnet-hostfxr-6.0"] {
        let downloaded = downloads.join(format!("{p}-{PACKAGE_VERSION}.x86_64.rpm"));
        assert_eq!(
            std::fs::read(&downloaded).unwrap(),
            std::fs::read(file(s, p, Format::Rpm)).unwrap()
        );
    }
    let root = installroot.display().to_string();
    ok(
        "rpm",
        &[
            "--root",
            &root,
            "--import",
            &tree.join(repository::KEY_ASC).display().to_string(),
        ],
    );
    let mut install = vec!["--root", &root, "-i", "--nodeps"];
    let rpms = files(s, Format::Rpm);
    install.extend(rpms.iter().map(String::as_str));
    ok("rpm", &install);
    let q = ok("rpm", &["--root", &root, "-q", "dotnet-runtime-6.0"]);
    assert_eq!(
        q.trim(),
        format!("dotnet-runtime-6.0-{PACKAGE_VERSION}.x86_64")
    );

    // The installed files work: the muxer lists the runtimes and a compiled app runs on them.
    let dotnet = installroot.join("usr/bin/dotnet");
    let runtimes = Command::new(&dotnet)
        .arg("--list-runtimes")
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .output()
        .unwrap();
    let listed = stdout(&runtimes);
    assert!(
        listed.contains(&format!(
            "Microsoft.NETCore.App {VERSION} [{}/usr/share/dotnet/shared/Microsoft.NETCore.App]",
            installroot.display()
        )),
        "{listed}{}",
        stderr(&runtimes)
    );
    assert!(
        listed.contains(&format!("Microsoft.AspNetCore.App {VERSION}")),
        "{listed}"
    );
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("Hello.cs"), "public static class Hello { public static void Main() { System.Console.WriteLine(\"hello from \" + typeof(object).Assembly.Location); } }\n").unwrap();
    std::fs::write(app.join("Hello.runtimeconfig.json"), r#"{"runtimeOptions":{"tfm":"netcoreapp3.1","rollForward":"LatestMajor","framework":{"name":"Microsoft.NETCore.App","version":"3.1.0"}}}"#).unwrap();
    ok(
        &s.runtimes.mcs.display().to_string(),
        &[
            "-target:exe",
            &format!("-out:{}", app.join("Hello.exe").display()),
            &app.join("Hello.cs").display().to_string(),
        ],
    );
    let ran = Command::new(&dotnet)
        .arg(app.join("Hello.exe"))
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .output()
        .unwrap();
    assert!(
        stdout(&ran).contains(&format!(
            "hello from {}/usr/share/dotnet/shared/Microsoft.NETCore.App/{VERSION}/",
            installroot.display()
        )),
        "{}{}",
        stdout(&ran),
        stderr(&ran)
    );

    // The .deb files unpacked give a working root too.
    let unpacked = tmp.path().join("unpacked");
    for deb in files(s, Format::Deb) {
        ok("dpkg-deb", &["-x", &deb, &unpacked.display().to_string()]);
    }
    let from_deb = Command::new(unpacked.join("usr/bin/dotnet"))
        .arg(app.join("Hello.exe"))
        .output()
        .unwrap();
    assert!(
        stdout(&from_deb).contains(&format!(
            "{}/usr/share/dotnet/shared/Microsoft.NETCore.App/{VERSION}/",
            unpacked.display()
        )),
        "{}{}",
        stdout(&from_deb),
        stderr(&from_deb)
    );

    // Promote: stable gets the identical bytes, re-signed metadata, and the dates are recorded.
    let before_stable_lab = snapshot(&tree.join("apt/pool"));
    let promoted = repository::promote(
        &s.config,
        VERSION.parse().unwrap(),
        Channel::Lab,
        Channel::Stable,
        &PublishOptions {
            release: Some(s.release.clone()),
            repo_dir: Some(tree.clone()),
            date: Some("2026-11-27".into()),
        },
        &signer(s),
    )
    .unwrap();
    assert_eq!((promoted.apt.len(), promoted.rpm.len()), (5, 5));
    assert!(
        promoted.apt.iter().all(|a| !a.new),
        "the pool is shared: no new .deb"
    );
    assert_eq!(snapshot(&tree.join("apt/pool")), before_stable_lab);
    for rpm in std::fs::read_dir(tree.join("rpm/lab/x86_64"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "rpm"))
    {
        assert_eq!(
            std::fs::read(rpm.path()).unwrap(),
            std::fs::read(tree.join("rpm/stable/x86_64").join(rpm.file_name())).unwrap()
        );
    }
    let lab_index =
        std::fs::read_to_string(tree.join("apt/dists/lab/main/binary-amd64/Packages")).unwrap();
    let stable_index =
        std::fs::read_to_string(tree.join("apt/dists/stable/main/binary-amd64/Packages")).unwrap();
    assert_eq!(lab_index, stable_index);
    let record = Record::read(&s.release).unwrap();
    assert_eq!(
        record.date(Channel::Lab, Distribution::Packages),
        Some(DATE)
    );
    assert_eq!(
        record.date(Channel::Stable, Distribution::Packages),
        Some("2026-11-27")
    );
    assert_the_release_verifies(s);
    let stable_state = tmp.path().join("apt-stable");
    let update = apt(&tree, "stable", &keyring, &stable_state, &["update"]);
    assert!(
        update.status.success(),
        "{}{}",
        stdout(&update),
        stderr(&update)
    );
    let sim = apt(
        &tree,
        "stable",
        &keyring,
        &stable_state,
        &["install", "-s", "aspnetcore-runtime-6.0"],
    );
    assert!(
        stdout(&sim).contains(&format!("Inst aspnetcore-runtime-6.0 ({PACKAGE_VERSION} ")),
        "{}",
        stdout(&sim)
    );

    // Publishing again is a no-op; verify passes on both channels.
    let again = publish(s, &tree, Channel::Lab);
    assert!(again.apt.iter().chain(&again.rpm).all(|a| !a.new));
    let t = Tree {
        dir: tree.clone(),
        url: String::new(),
        vendor: "net6-els".into(),
    };
    let report = repository::verify::verify(&t, &Channel::ALL, Some(&s.public_key)).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.packages, 20);
}

#[test]
fn verify_catches_a_removed_package_a_changed_byte_and_a_stale_signature() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("repo");
    // Published and verified through the command line with --json: `support::xtask` validates
    // the documents against schemas/repo.schema.json and schemas/repo-verify.schema.json.
    let published = xtask(
        &s.root,
        &[
            "repo",
            "publish",
            "--channel",
            "lab",
            "--release",
            &s.release.display().to_string(),
            "--repo-dir",
            &tree.display().to_string(),
            "--date",
            DATE,
            "--json",
        ],
        &[("ELS_SIGNING_KEY", s.secret.as_str())],
    );
    assert_eq!(code(&published), 0, "{}", stderr(&published));
    assert_eq!(json(&published)["signer"], s.fingerprint.as_str());
    let verify = |dir: &Path, format: &[&str]| {
        let (dir, key) = (
            dir.display().to_string(),
            s.public_key.display().to_string(),
        );
        let args = [
            "repo",
            "verify",
            "--channel",
            "lab",
            "--repo-dir",
            &dir,
            "--key",
            &key,
        ];
        xtask(&s.root, &[&args[..], format].concat(), &[])
    };
    let verified = verify(&tree, &["--json"]);
    assert_eq!(code(&verified), 0, "{}", stdout(&verified));
    assert_eq!(json(&verified)["problems"], serde_json::json!([]));
    let check = |dir: &Path| {
        let out = verify(dir, &[]);
        (code(&out), stdout(&out))
    };
    let (status, out) = check(&tree);
    assert_eq!(status, 0, "{out}");
    let copy = |name: &str| {
        let d = tmp.path().join(name);
        ok(
            "cp",
            &["-a", &tree.display().to_string(), &d.display().to_string()],
        );
        d
    };

    let removed = copy("removed");
    std::fs::remove_file(removed.join(format!(
        "rpm/lab/x86_64/dotnet-host-{PACKAGE_VERSION}.x86_64.rpm"
    )))
    .unwrap();
    std::fs::remove_file(removed.join(format!(
        "apt/pool/main/d/dotnet-host/dotnet-host_{PACKAGE_VERSION}_amd64.deb"
    )))
    .unwrap();
    let (status, out) = check(&removed);
    assert_eq!(status, 1, "{out}");
    assert!(out.contains(&format!("dotnet-host-{PACKAGE_VERSION}.x86_64.rpm (dotnet-host {VERSION}) is listed in the primary metadata but missing")), "{out}");
    assert!(
        out.contains(&format!(
            "dotnet-host_{PACKAGE_VERSION}_amd64.deb (dotnet-host {PACKAGE_VERSION}) is listed"
        )),
        "{out}"
    );

    let changed = copy("changed");
    let deb = changed.join(format!(
        "apt/pool/main/d/dotnet-runtime-6.0/dotnet-runtime-6.0_{PACKAGE_VERSION}_amd64.deb"
    ));
    let mut bytes = std::fs::read(&deb).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x40;
    std::fs::write(&deb, bytes).unwrap();
    let (status, out) = check(&changed);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("dotnet-runtime-6.0_6.0.37-1.els_amd64.deb: does not match its SHA-256"),
        "{out}"
    );

    let stale = copy("stale");
    let release = stale.join("apt/dists/lab/Release");
    let text = std::fs::read_to_string(&release)
        .unwrap()
        .replace("Label: net6-els", "Label: someone");
    std::fs::remove_file(&release).unwrap();
    std::fs::write(&release, text).unwrap();
    let repomd = stale.join("rpm/lab/x86_64/repodata/repomd.xml");
    let text = std::fs::read_to_string(&repomd)
        .unwrap()
        .replace("<revision>", "<revision>1");
    std::fs::remove_file(&repomd).unwrap();
    std::fs::write(&repomd, text).unwrap();
    let (status, out) = check(&stale);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("apt/dists/lab/Release.gpg: the signature does not match"),
        "{out}"
    );
    assert!(
        out.contains("apt/dists/lab/InRelease: does not hold the same text as Release"),
        "{out}"
    );
    assert!(
        out.contains("rpm/lab/x86_64/repodata/repomd.xml.asc: the signature does not match"),
        "{out}"
    );
}

#[test]
fn bad_inputs_exit_2_and_leave_the_repository_unchanged() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("repo");
    publish(s, &tree, Channel::Lab);
    let before = snapshot(&tree);
    let release = s.release.display().to_string();
    let repo_dir = tree.display().to_string();
    let key = [("ELS_SIGNING_KEY", s.secret.as_str())];

    let slash = xtask(
        &s.root,
        &[
            "repo",
            "publish",
            "--channel",
            "lab/../x",
            "--release",
            &release,
            "--repo-dir",
            &repo_dir,
        ],
        &key,
    );
    assert_eq!(code(&slash), 2, "{}", stderr(&slash));
    assert!(
        stderr(&slash).contains("`lab` and `stable`"),
        "{}",
        stderr(&slash)
    );

    let no_key = xtask(
        &s.root,
        &[
            "repo",
            "publish",
            "--channel",
            "stable",
            "--release",
            &release,
            "--repo-dir",
            &repo_dir,
        ],
        &[("ELS_SIGNING_KEY", ""), ("ELS_SIGNING_KEY_ID", "")],
    );
    assert_eq!(code(&no_key), 2, "{}", stderr(&no_key));
    assert!(
        stderr(&no_key).contains("no signing key"),
        "{}",
        stderr(&no_key)
    );

    let not_there = xtask(
        &s.root,
        &[
            "repo",
            "promote",
            "6.0.99",
            "--from",
            "lab",
            "--to",
            "stable",
            "--release",
            &release,
            "--repo-dir",
            &repo_dir,
        ],
        &key,
    );
    assert_eq!(code(&not_there), 2, "{}", stderr(&not_there));
    assert!(
        stderr(&not_there).contains("lab holds no packages of 6.0.99"),
        "{}",
        stderr(&not_there)
    );

    // Same version, different bytes: refused.
    let other = copy_of_release(s, &tmp.path().join("other-release"));
    let other_out = xtask(
        &s.root,
        &[
            "package",
            "--release",
            &other.display().to_string(),
            "--formats",
            "deb",
            // One document following schemas/package.schema.json (`support::xtask` validates it).
            "--json",
        ],
        &[
            ("SOURCE_DATE_EPOCH", "1700000000"),
            ("ELS_SIGNING_KEY", s.secret.as_str()),
        ],
    );
    assert_eq!(code(&other_out), 0, "{}", stderr(&other_out));
    let twice = xtask(
        &s.root,
        &[
            "repo",
            "publish",
            "--channel",
            "lab",
            "--release",
            &other.display().to_string(),
            "--repo-dir",
            &repo_dir,
        ],
        &key,
    );
    assert_eq!(code(&twice), 2, "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("different bytes"),
        "{}",
        stderr(&twice)
    );
    assert_eq!(snapshot(&tree), before);

    // `package` refuses, with exit 2 and the release directory unchanged: an archive without the
    // shared framework, a version not above Microsoft's 6.0.36, and RPMs without a key.
    let refused = |dir: &Path, env: &[(&str, &str)], wanted: &str| {
        let before = snapshot(dir);
        let out = xtask(
            &s.root,
            &["package", "--release", &dir.display().to_string()],
            env,
        );
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains(wanted), "{wanted}: {}", stderr(&out));
        assert_eq!(snapshot(dir), before, "{} changed", dir.display());
    };
    let copy_release = |name: &str| copy_of_release(s, &tmp.path().join(name));

    let bare = copy_release("bare");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o755);
    tar.append_data(&mut h, "./dotnet", &b"elf"[..]).unwrap();
    std::fs::write(
        bare.join(package::layout::runtime_archive(VERSION.parse().unwrap())),
        tar.into_inner().unwrap().finish().unwrap(),
    )
    .unwrap();
    refused(&bare, &key, "no shared/Microsoft.NETCore.App/<version>/");

    let low = copy_release("low");
    testenv::release_archives(&s.runtimes.dotnet_root, "6.0.36", &low).unwrap();
    let release_json = low.join("release.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&release_json).unwrap()).unwrap();
    doc["releases"][0]["release-version"] = "6.0.36".into();
    std::fs::write(&release_json, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    refused(&low, &key, "not above Microsoft's last release 6.0.36");

    let keyless = copy_release("keyless");
    refused(
        &keyless,
        &[("ELS_SIGNING_KEY", ""), ("ELS_SIGNING_KEY_ID", "")],
        "no signing key",
    );
    assert_eq!(snapshot(&tree), before);
}

#[test]
fn publications_of_one_release_at_once_all_land_and_the_release_still_verifies() {
    // Every `repo publish` reseals the release directory and records its channel there; the
    // other tests of this file do the same to the shared release at the same time, which is what
    // once failed CI here (one publication checksummed another's half-written file).
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for (i, channel) in [Channel::Lab, Channel::Stable, Channel::Lab, Channel::Stable]
            .into_iter()
            .enumerate()
        {
            let tree = tmp.path().join(format!("repo-{i}"));
            scope.spawn(move || publish(s, &tree, channel));
        }
    });
    let record = Record::read(&s.release).unwrap();
    assert!(record.date(Channel::Lab, Distribution::Packages).is_some());
    assert!(record
        .date(Channel::Stable, Distribution::Packages)
        .is_some());
    // The channel record keeps changing after the release is sealed (the feed's publication adds
    // its date without resealing); the release must verify all the same.
    {
        let _release_lock = xtask::release::lock(&s.release).unwrap();
        Record::add(&s.release, Channel::Stable, Distribution::Feed, DATE).unwrap();
    }
    assert_the_release_verifies(s);
    let sums = std::fs::read_to_string(s.release.join("SHA512SUMS")).unwrap();
    assert!(!sums.contains("channels.json"), "{sums}");
    assert!(!sums.contains(".tmp"), "{sums}");
}
