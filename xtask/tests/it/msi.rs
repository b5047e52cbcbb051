//! The Windows installers, judged by the consumer's tools: msitools' `msiinfo` and `msiextract`
//! read the MSIs built from release archives shaped from real Windows runtime files (the
//! `win_amd64` test wheels), and Wine's `msiexec` installs, upgrades and uninstalls them.

use crate::support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use xtask::compat::testenv;
use xtask::package::msi::{self, Product};
use xtask::release::sign::{self, GpgHome, SigningKey};
use xtask::version::Version;

use sha2::{Digest, Sha512};
use support::{code, stderr, stdout, target, xtask};

/// The Windows test runtime root, downloaded and verified once.
fn windows_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        testenv::ensure_windows(&testenv::cache_dir(&target())).unwrap_or_else(|e| {
            panic!(
                "the MSI tests need the real Windows runtime files and could not get them: {e:#}"
            )
        })
    })
}

fn v(s: &str) -> Version {
    s.parse().unwrap()
}

fn options() -> msi::Options {
    msi::Options {
        vendor: "Contoso .NET 6 ELS".into(),
        base_version: v("6.0.36"),
    }
}

/// The three release archives of `version`, shaped from the real Windows files.
fn archives(dir: &Path, version: &str) -> Vec<PathBuf> {
    Product::ALL
        .iter()
        .map(|p| msi::archive_from_test_runtime(windows_root(), *p, v(version), dir).unwrap())
        .collect()
}

/// The files of a zip archive: path → bytes.
fn zip_files(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..zip.len() {
        let mut e = zip.by_index(i).unwrap();
        if e.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        files.insert(e.name().unwrap().to_string(), bytes);
    }
    files
}

/// Every file under `dir`: path relative to it → bytes.
fn tree_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, val) in env {
        cmd.env(k, val);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rows of one table as `msiinfo export` prints them (after its three header lines).
fn table(msi: &Path, name: &str) -> Vec<Vec<String>> {
    run("msiinfo", &["export", msi.to_str().unwrap(), name], &[])
        .lines()
        .skip(3)
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

fn property(msi: &Path, name: &str) -> String {
    table(msi, "Property")
        .into_iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no property {name} in {}", msi.display()))[1]
        .clone()
}

/// Builds the three MSIs of `version` once per test binary.
fn built(version: &'static str) -> &'static (tempfile::TempDir, Vec<msi::BuiltMsi>) {
    static BUILT: OnceLock<BTreeMap<&'static str, (tempfile::TempDir, Vec<msi::BuiltMsi>)>> =
        OnceLock::new();
    let all = BUILT.get_or_init(|| {
        ["6.0.37", "6.0.38"]
            .into_iter()
            .map(|ver| {
                let dir = tempfile::tempdir().unwrap();
                let inputs = archives(&dir.path().join("release"), ver);
                let out = dir.path().join("msi");
                let msis = msi::build(&inputs, &options(), &out).unwrap();
                (ver, (dir, msis))
            })
            .collect()
    });
    &all[version]
}

fn built_msi(version: &'static str, product: Product) -> &'static msi::BuiltMsi {
    built(version)
        .1
        .iter()
        .find(|m| m.product == product)
        .unwrap()
}

#[test]
fn msiinfo_shows_the_tables_and_rows_of_microsofts_layout() {
    let runtime = &built_msi("6.0.37", Product::Runtime).path;
    let tables = run("msiinfo", &["tables", runtime.to_str().unwrap()], &[]);
    for t in [
        "File",
        "Directory",
        "Registry",
        "Upgrade",
        "Property",
        "Component",
    ] {
        assert!(tables.lines().any(|l| l == t), "no {t} table in {tables}");
    }

    assert_eq!(property(runtime, "ProductVersion"), "6.0.37");
    assert_eq!(property(runtime, "Manufacturer"), "Contoso .NET 6 ELS");
    assert_eq!(
        property(runtime, "ProductName"),
        "Contoso .NET 6 ELS Runtime - 6.0.37 (x64)"
    );
    assert_eq!(
        property(runtime, "ELS_FRAMEWORK_NAME"),
        "Microsoft.NETCore.App"
    );
    assert_eq!(property(runtime, "ELS_FRAMEWORK_VERSION"), "6.0.37");
    // The commit comes from the framework's own `.version` file in the archive.
    let version_file = zip_files(&built_msi("6.0.37", Product::Runtime).archive)
        ["shared/Microsoft.NETCore.App/6.0.37/.version"]
        .clone();
    let commit = String::from_utf8(version_file).unwrap();
    assert_eq!(
        property(runtime, "ELS_COMMIT"),
        commit.lines().next().unwrap()
    );

    // Installed where Microsoft's are: %ProgramFiles%\dotnet\host\fxr\<ver>, shared\<fw>\<ver>.
    let dirs = table(runtime, "Directory");
    let dir = |id: &str| dirs.iter().find(|r| r[0] == id).cloned().unwrap();
    assert_eq!(dir("DOTNETHOME")[1..], ["ProgramFiles64Folder", "dotnet"]);
    // DefaultDir is `short|long` when the name is not a valid 8.3 name.
    let long = |r: &Vec<String>| r[2].rsplit('|').next().unwrap().to_string();
    let parents_of = |name: &str| -> Vec<String> {
        let mut parents: Vec<String> = dirs
            .iter()
            .filter(|r| long(r) == name)
            .map(|row| long(dirs.iter().find(|r| r[0] == row[1]).unwrap()))
            .collect();
        parents.sort();
        parents
    };
    assert_eq!(parents_of("host"), ["dotnet"]);
    assert_eq!(parents_of("fxr"), ["host"]);
    assert_eq!(parents_of("Microsoft.NETCore.App"), ["shared"]);
    assert_eq!(parents_of("6.0.37"), ["Microsoft.NETCore.App", "fxr"]);

    // One file row per archive file, each in its own 64-bit component.
    let archive = zip_files(&built_msi("6.0.37", Product::Runtime).archive);
    let files = table(runtime, "File");
    assert_eq!(files.len(), archive.len());
    for name in [
        "dotnet.exe",
        "hostfxr.dll",
        "coreclr.dll",
        "System.Private.CoreLib.dll",
    ] {
        let row = files.iter().find(|r| r[2].ends_with(name)).unwrap();
        let expected = archive
            .iter()
            .find(|(k, _)| k.ends_with(&format!("/{name}")) || *k == name)
            .unwrap()
            .1
            .len();
        assert_eq!(row[3], expected.to_string(), "size of {name}");
    }
    let components = table(runtime, "Component");
    let file_components: Vec<&Vec<String>> = components
        .iter()
        .filter(|r| files.iter().any(|f| f[0] == r[5]))
        .collect();
    // One component per file, but LICENSE.txt and ThirdPartyNotices.txt share Microsoft's one.
    assert_eq!(file_components.len(), archive.len() - 1);
    assert!(file_components
        .iter()
        .all(|r| r[3].parse::<u32>().unwrap() & 256 != 0));
    // The files every host shares are in Microsoft's components (dotnet/runtime host.wxs), so
    // Windows Installer keeps them while Microsoft's 6.0.36 host is installed.
    let component_of = |file_name: &str| -> Vec<String> {
        let file = files.iter().find(|f| f[2].ends_with(file_name)).unwrap();
        components.iter().find(|r| r[0] == file[1]).unwrap().clone()
    };
    assert_eq!(
        component_of("dotnet.exe")[1],
        "{45399BBB-DDA5-4386-A2E9-618FB3C54A18}"
    );
    assert_eq!(
        component_of("LICENSE.txt")[1],
        "{A61CBE5B-1282-4F29-90AD-63597AA2372E}"
    );
    assert_eq!(
        component_of("ThirdPartyNotices.txt")[0],
        component_of("LICENSE.txt")[0]
    );
    assert_eq!(
        component_of("LICENSE.txt")[5],
        files
            .iter()
            .find(|f| f[2].ends_with("LICENSE.txt"))
            .unwrap()[0]
    );

    // The registry values tools read, in the 32-bit view (a component without the 64-bit bit).
    let registry = table(runtime, "Registry");
    let value = |key: &str, name: &str| -> String {
        registry
            .iter()
            .find(|r| r[1] == "2" && r[2] == key && r[3] == name)
            .unwrap_or_else(|| panic!("no HKLM\\{key} {name} in {registry:?}"))[4]
            .clone()
    };
    let base = r"SOFTWARE\dotnet\Setup\InstalledVersions\x64";
    assert_eq!(
        value(&format!(r"{base}\sharedfx\Microsoft.NETCore.App"), "6.0.37"),
        "#1"
    );
    assert_eq!(value(&format!(r"{base}\sharedhost"), "Version"), "6.0.37");
    assert_eq!(
        value(&format!(r"{base}\sharedhost"), "Path"),
        "[DOTNETHOME]"
    );
    assert_eq!(value(base, "InstallLocation"), "[DOTNETHOME]");
    assert_eq!(value(&format!(r"{base}\hostfxr"), "Version"), "6.0.37");
    // Each value in its own component, in the view Microsoft's installers use (the 64-bit bit,
    // 256, set for `sharedhost`), with the GUID WiX derives for Microsoft's: the same component.
    let registry_component = |key: &str, name: &str| -> Vec<String> {
        let row = registry
            .iter()
            .find(|r| r[2] == key && r[3] == name)
            .unwrap();
        let component = components.iter().find(|c| c[0] == row[5]).unwrap();
        assert_eq!(
            component[5], row[0],
            "{key} {name} is its component's key path"
        );
        component.clone()
    };
    for (key, name, win64, guid) in [
        (
            format!(r"{base}\sharedhost"),
            "Version",
            true,
            "{EA9C3F98-F9B1-5212-8980-CFEAF2B15E0D}",
        ),
        (
            format!(r"{base}\sharedhost"),
            "Path",
            true,
            "{CE35924C-AD31-51DF-B84A-A8052ED08400}",
        ),
        (
            base.to_string(),
            "InstallLocation",
            false,
            "{E4E008C8-57A8-5040-BB34-03024B15B6C5}",
        ),
        (
            format!(r"{base}\hostfxr"),
            "Version",
            false,
            "{8EC524B8-7864-5ACE-B320-2D36216EBC12}",
        ),
    ] {
        let component = registry_component(&key, name);
        assert_eq!(component[1], guid, "{key} {name}");
        assert_eq!(
            component[3].parse::<u32>().unwrap() & 256 != 0,
            win64,
            "{key} {name}"
        );
    }
    let sharedfx = registry_component(&format!(r"{base}\sharedfx\Microsoft.NETCore.App"), "6.0.37");
    assert_eq!(sharedfx[3].parse::<u32>().unwrap() & 256, 0);
    // `Path` adds the directory to the system PATH, as Microsoft's host does.
    let environment = table(runtime, "Environment");
    assert_eq!(environment.len(), 1, "{environment:?}");
    assert_eq!(environment[0][1], "=*PATH");
    assert_eq!(environment[0][2], "[~];[DOTNETHOME]");
    assert_eq!(
        environment[0][3],
        registry_component(&format!(r"{base}\sharedhost"), "Path")[0]
    );

    // Our own upgrade code, the same one each build, detecting older versions to replace.
    let upgrade = table(runtime, "Upgrade");
    let code = property(runtime, "UpgradeCode");
    assert_eq!(code, Product::Runtime.upgrade_code("Contoso .NET 6 ELS", 6));
    assert!(upgrade
        .iter()
        .any(|r| r[0] == code && r[2] == "6.0.37" && r[6] == "WIX_UPGRADE_DETECTED"));
    let newer = &built_msi("6.0.38", Product::Runtime).path;
    assert_eq!(property(newer, "UpgradeCode"), code);
    assert_ne!(
        property(newer, "ProductCode"),
        property(runtime, "ProductCode")
    );

    // The other products: their framework and their sharedfx value only, their own codes.
    for (product, framework) in [
        (Product::AspNetCore, "Microsoft.AspNetCore.App"),
        (Product::WindowsDesktop, "Microsoft.WindowsDesktop.App"),
    ] {
        let m = &built_msi("6.0.37", product).path;
        assert_eq!(property(m, "ProductVersion"), "6.0.37");
        assert_ne!(property(m, "UpgradeCode"), code);
        let rows = table(m, "Registry");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0][2], format!(r"{base}\sharedfx\{framework}"));
        assert_eq!(rows[0][3], "6.0.37");
    }
    // A different vendor or major version never shares a code.
    assert_ne!(code, Product::Runtime.upgrade_code("Another vendor", 6));
    assert_ne!(code, Product::Runtime.upgrade_code("Contoso .NET 6 ELS", 7));
}

#[test]
fn msiextract_gives_back_the_archives_files_byte_for_byte() {
    for m in &built("6.0.37").1 {
        let out = tempfile::tempdir().unwrap();
        run(
            "msiextract",
            &["-C", out.path().to_str().unwrap(), m.path.to_str().unwrap()],
            &[],
        );
        // msiextract writes the ProgramFiles64Folder's `dotnet` directory at the top.
        let extracted = tree_files(&out.path().join("dotnet"));
        let archive = zip_files(&m.archive);
        let expected: BTreeMap<String, Vec<u8>> = archive
            .into_iter()
            .filter(|(k, _)| match m.product {
                Product::Runtime => {
                    !k.starts_with("shared/") || k.starts_with("shared/Microsoft.NETCore.App/")
                }
                p => k.starts_with(&format!("shared/{}/", p.framework())),
            })
            .collect();
        assert_eq!(m.files, expected.len());
        assert_eq!(
            extracted.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{}",
            m.name
        );
        assert!(extracted == expected, "{}: contents differ", m.name);
    }
}

#[test]
fn bad_archives_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = archives(&dir.path().join("good"), "6.0.37");
    let rewrite = |from: &Path, to_dir: &Path, edit: &dyn Fn(&str) -> Option<String>| -> PathBuf {
        std::fs::create_dir_all(to_dir).unwrap();
        let to = to_dir.join(from.file_name().unwrap());
        let mut w = zip::ZipWriter::new(std::fs::File::create(&to).unwrap());
        for (name, bytes) in zip_files(from) {
            if let Some(name) = edit(&name) {
                w.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut w, &bytes).unwrap();
            }
        }
        w.finish().unwrap();
        to
    };
    let no_muxer = rewrite(&good[0], &dir.path().join("no-muxer"), &|n| {
        (n != "dotnet.exe").then(|| n.to_string())
    });
    let mixed = rewrite(&good[1], &dir.path().join("mixed"), &|n| {
        Some(n.replace(
            "Microsoft.AspNetCore.App/6.0.37",
            "Microsoft.AspNetCore.App/6.0.38",
        ))
    });
    let old = archives(&dir.path().join("old"), "6.0.36");
    let cases: Vec<(Vec<PathBuf>, &str)> = vec![
        (vec![no_muxer, good[1].clone()], "no dotnet.exe"),
        (vec![good[0].clone(), mixed], "must share one version"),
        (old.clone(), "is not above Microsoft's 6.0.36"),
    ];
    for (inputs, message) in cases {
        let out = dir.path().join("out");
        let err = msi::build(&inputs, &options(), &out).unwrap_err();
        assert!(format!("{err:#}").contains(message), "{err:#}");
        assert!(!out.exists(), "{} was written for {message}", out.display());
    }
}

/// A Wine prefix: a Windows machine of its own, driven as an administrator would.
struct WinePrefix(tempfile::TempDir);

/// The system environment's key, where `PATH` lives.
const ENVIRONMENT_KEY: &str = r"HKLM\System\CurrentControlSet\Control\Session Manager\Environment";

impl WinePrefix {
    fn new() -> Self {
        WinePrefix(tempfile::tempdir().unwrap())
    }

    fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new("wine")
            .args(args)
            .env("WINEPREFIX", self.0.path())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .output()
            .unwrap_or_else(|e| panic!("cannot run wine (install wine and wine64): {e}"))
    }

    /// Runs `wine <args>`, which must succeed; its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args);
        assert!(
            out.status.success(),
            "wine {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `msiexec /i` (install or upgrade) or `/x` (uninstall), silently.
    fn msiexec(&self, action: &str, msi: &Path) {
        self.run(&["msiexec", action, msi.to_str().unwrap(), "/qn"]);
    }

    /// `reg query KEY /s` (the 64-bit view; `WOW6432Node` is the 32-bit one), `None` when the
    /// key does not exist.
    fn reg(&self, key: &str) -> Option<String> {
        let out = self.command(&["reg", "query", key, "/s"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The system `PATH`.
    fn path(&self) -> String {
        self.run(&["reg", "query", ENVIRONMENT_KEY, "/v", "PATH"])
    }

    /// Asserts the registration of an installed host: `InstallLocation` and `hostfxr` `Version`
    /// in the 32-bit view, `sharedhost` `Version` and `Path` in the 64-bit view, the `PATH` entry.
    fn assert_host_registered(&self, version: &str) {
        let home = r"C:\Program Files\dotnet\";
        let keys = self
            .reg(INSTALLED_32)
            .expect("the InstalledVersions key exists");
        assert!(
            keys.contains(&format!("InstallLocation    REG_SZ    {home}")),
            "{keys}"
        );
        let hostfxr = self
            .reg(&format!(r"{INSTALLED_32}\hostfxr"))
            .expect("hostfxr's key exists");
        assert!(
            hostfxr.contains(&format!("Version    REG_SZ    {version}")),
            "{hostfxr}"
        );
        let host = self
            .reg(&format!(r"{INSTALLED_64}\sharedhost"))
            .expect("the 64-bit sharedhost key exists");
        assert!(
            host.contains(&format!("Version    REG_SZ    {version}")),
            "{host}"
        );
        assert!(
            host.contains(&format!("Path    REG_SZ    {home}")),
            "{host}"
        );
        assert!(self.path().contains(home), "{}", self.path());
    }

    /// `%ProgramFiles%\dotnet` on the Linux side.
    fn dotnet_home(&self) -> PathBuf {
        self.0.path().join("drive_c/Program Files/dotnet")
    }

    /// `dotnet.exe --list-runtimes` from `%ProgramFiles%\dotnet`, run by Wine.
    fn list_runtimes(&self) -> String {
        self.run(&[r"C:\Program Files\dotnet\dotnet.exe", "--list-runtimes"])
    }
}

/// Where Microsoft's and our x64 MSIs register installed versions, in the 32-bit view.
const INSTALLED_32: &str = r"HKLM\SOFTWARE\WOW6432Node\dotnet\Setup\InstalledVersions\x64";
/// The same key in the 64-bit view, where the host's `sharedhost` values are (Microsoft's x64
/// host MSI writes them there).
const INSTALLED_64: &str = r"HKLM\SOFTWARE\dotnet\Setup\InstalledVersions\x64";

/// Wine's `msiexec` installs, upgrades in place and uninstalls the runtime MSI like Windows.
#[test]
fn wine_msiexec_installs_upgrades_and_uninstalls() {
    let wine = WinePrefix::new();
    let dotnet = wine.dotnet_home();
    let older = built_msi("6.0.37", Product::Runtime);
    let newer = built_msi("6.0.38", Product::Runtime);

    wine.msiexec("/i", &older.path);
    let installed = tree_files(&dotnet);
    let archive = zip_files(&older.archive);
    assert!(
        installed == archive,
        "installed files differ from the archive"
    );
    let keys = wine
        .reg(INSTALLED_32)
        .expect("the InstalledVersions key exists");
    assert!(keys.contains("6.0.37    REG_DWORD    0x1"), "{keys}");
    wine.assert_host_registered("6.0.37");

    wine.msiexec("/i", &newer.path);
    let installed = tree_files(&dotnet);
    assert!(
        installed == zip_files(&newer.archive),
        "the upgrade left other files"
    );
    assert!(!dotnet.join("shared/Microsoft.NETCore.App/6.0.37").exists());
    let keys = wine.reg(INSTALLED_32).unwrap();
    assert!(keys.contains("6.0.38    REG_DWORD    0x1"), "{keys}");
    assert!(!keys.contains("6.0.37"), "{keys}");
    wine.assert_host_registered("6.0.38");

    wine.msiexec("/x", &newer.path);
    assert!(
        !dotnet.exists(),
        "files left after uninstall: {:?}",
        tree_files(&dotnet).keys()
    );
    assert_eq!(wine.reg(r"HKLM\SOFTWARE\WOW6432Node\dotnet"), None);
    assert_eq!(wine.reg(r"HKLM\SOFTWARE\dotnet"), None);
    assert!(
        !wine.path().contains(r"Program Files\dotnet"),
        "{}",
        wine.path()
    );
}

/// Microsoft's x64 host MSI's upgrade code, stable since 6.0.0 (dotnet/runtime
/// `src/installer/pkg/sfx/installers/dotnet-host.proj`).
const MICROSOFT_HOST_UPGRADE_CODE: &str = "{97C9F490-5379-6902-7B80-D2723CA59D95}";

/// A stand-in for one of Microsoft's 6.0.36 MSIs (host, hostfxr, runtime), REBUILT HERE with
/// `wixl` from the structure of Microsoft's WiX sources for 6.0 (dotnet/runtime
/// `src/installer/pkg/sfx/installers/host.wxs` as of release/6.0's branching and later, with
/// `cmpInstallLocation` of the later ones; `dotnet-host.proj`, `dotnet-hostfxr.proj` and
/// Arcade's `product.wxs`/`registrykeys.wxs`): the same directories, the same fixed component
/// GUIDs of the shared files, the GUIDs WiX derives for the registry components (written out:
/// wixl derives `*` differently), the same registry values and the host's upgrade code.
/// Microsoft's real MSIs cannot be downloaded here. The per-version files get wixl's GUIDs, as
/// WiX gives each path its own; the hostfxr and runtime upgrade codes (derived by Arcade from
/// the installer's name) are this stand-in's own.
fn microsoft_6_0_36_stand_in(dir: &Path, name: &str) -> PathBuf {
    let root = windows_root();
    // wixl takes sources relative to where it runs: each file is staged under `dir/<name>/<id>/`.
    let file = |id: &str, source: &Path, key: bool| {
        let file_name = source.file_name().unwrap().to_string_lossy().into_owned();
        let staged = Path::new(name).join(id).join(&file_name);
        std::fs::create_dir_all(dir.join(staged.parent().unwrap())).unwrap();
        std::fs::copy(source, dir.join(&staged)).unwrap();
        format!(
            r#"<File Id="{id}" Name="{file_name}" Source="{}"{}/>"#,
            staged.display(),
            if key { r#" KeyPath="yes""# } else { "" }
        )
    };
    let registry = |id: &str,
                    guid: &str,
                    win64: &str,
                    key: &str,
                    name: &str,
                    kind: &str,
                    value: &str| {
        format!(
            r#"<Component Id="{id}" Guid="{guid}" Win64="{win64}"><RegistryValue Root="HKLM" Key="SOFTWARE\dotnet\Setup\InstalledVersions\x64{key}" Name="{name}" Type="{kind}" Value="{value}" KeyPath="yes"/></Component>"#
        )
    };
    let (title, upgrade_code, components, dirs): (&str, &str, Vec<String>, String) = match name {
        "dotnet-host" => (
            "Microsoft .NET Host - 6.0.36 (x64)",
            MICROSOFT_HOST_UPGRADE_CODE,
            vec![
                format!(
                    r#"<Component Id="cmpCoreHost" Directory="DOTNETHOME" Guid="{{45399BBB-DDA5-4386-A2E9-618FB3C54A18}}" Win64="yes">{}</Component>"#,
                    file("fileCoreHostExe", &root.join("dotnet.exe"), true)
                ),
                format!(
                    r#"<Component Id="cmpLicenseFiles" Directory="DOTNETHOME" Guid="{{A61CBE5B-1282-4F29-90AD-63597AA2372E}}" Win64="yes">{}{}</Component>"#,
                    file("fileLicenseTxt", &root.join("LICENSE.txt"), true),
                    file("fileThirdPartyNoticesTxt", &root.join("ThirdPartyNotices.txt"), false)
                ),
                // WiX's GUIDs for "642\software\...\sharedhost\version" and "…\path", and for
                // the 32-bit "2\software\...\x64\installlocation".
                registry("cmpSharedHostVersionRegistry", "{EA9C3F98-F9B1-5212-8980-CFEAF2B15E0D}", "yes", r"\sharedhost", "Version", "string", "6.0.36"),
                registry("cmdPath", "{CE35924C-AD31-51DF-B84A-A8052ED08400}", "yes", r"\sharedhost", "Path", "string", "[DOTNETHOME]"),
                registry("cmpInstallLocation", "{E4E008C8-57A8-5040-BB34-03024B15B6C5}", "no", "", "InstallLocation", "string", "[DOTNETHOME]"),
            ],
            String::new(),
        ),
        "dotnet-hostfxr" => (
            "Microsoft .NET Host FX Resolver - 6.0.36 (x64)",
            "{5A6F2A0E-6D0B-4C59-9C55-0F3A6E0B3601}",
            vec![
                r#"<Component Id="cmpHostFxr" Directory="dir6036" Guid="*" Win64="yes">"#.to_string()
                    + &file("fileHostFxr", &root.join("host/fxr/8.0.4/hostfxr.dll"), true)
                    + "</Component>",
                // WiX's GUID for "2\software\...\x64\hostfxr\version" (Arcade's registrykeys.wxs).
                registry("SetupRegistry_x86", "{8EC524B8-7864-5ACE-B320-2D36216EBC12}", "no", r"\hostfxr", "Version", "string", "6.0.36"),
            ],
            r#"<Directory Id="dirHost" Name="host"><Directory Id="dirFxr" Name="fxr"><Directory Id="dir6036" Name="6.0.36"/></Directory></Directory>"#.to_string(),
        ),
        "dotnet-runtime" => {
            // The real Windows files of the 3.1.23 framework stand in for Microsoft's 6.0.36.
            let framework = root.join("shared/Microsoft.NETCore.App/3.1.23");
            let mut components: Vec<String> = std::fs::read_dir(&framework)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .enumerate()
                .map(|(i, p)| {
                    format!(
                        r#"<Component Id="cmp{i}" Directory="dirFramework" Guid="*" Win64="yes">{}</Component>"#,
                        file(&format!("file{i}"), &p, true)
                    )
                })
                .collect();
            components.push(registry(
                "SetupRegistry_x86",
                "{3413BF8A-704D-59C0-B227-B6A1DB496314}",
                "no",
                r"\sharedfx\Microsoft.NETCore.App",
                "6.0.36",
                "integer",
                "1"));
            (
                "Microsoft .NET Runtime - 6.0.36 (x64)",
                "{5A6F2A0E-6D0B-4C59-9C55-0F3A6E0B3602}",
                components,
                r#"<Directory Id="dirShared" Name="shared"><Directory Id="dirNetCoreApp" Name="Microsoft.NETCore.App"><Directory Id="dirFramework" Name="6.0.36"/></Directory></Directory>"#.to_string(),
            )
        }
        other => panic!("no stand-in for {other}"),
    };
    let refs: String = components
        .iter()
        .map(|c| {
            let id = c.split('"').nth(1).unwrap();
            format!(r#"<ComponentRef Id="{id}"/>"#)
        })
        .collect();
    // wixl wants components inside their directory: each is placed by its Directory attribute.
    let mut by_dir: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for c in &components {
        let dir = c
            .split("Directory=\"")
            .nth(1)
            .map_or("TARGETDIR", |r| r.split('"').next().unwrap());
        by_dir.entry(dir).or_default().push(c);
    }
    let mut dirs = dirs;
    for (dir, list) in &by_dir {
        let body: String = list
            .iter()
            .map(|c| c.replace(&format!(r#" Directory="{dir}""#), ""))
            .collect();
        let open = format!(r#"Id="{dir}" Name="#);
        if let Some(at) = dirs.find(&open) {
            let close = dirs[at..].find("/>").unwrap() + at;
            dirs.replace_range(close..close + 2, &format!(">{body}</Directory>"));
        }
    }
    let top = |dir: &str| {
        by_dir.get(dir).map_or(String::new(), |l| {
            l.iter()
                .map(|c| c.replace(&format!(r#" Directory="{dir}""#), ""))
                .collect()
        })
    };
    let wxs = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<!-- A stand-in rebuilt from Microsoft's WiX sources for 6.0 (dotnet/runtime host.wxs); not Microsoft's MSI. -->
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="{title}" Language="1033" Version="6.0.36.34217" Manufacturer="Microsoft Corporation" UpgradeCode="{upgrade_code}">
    <Package InstallerVersion="200" Compressed="yes" InstallScope="perMachine"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version is already installed; please uninstall it and re-run setup."/>
    <Media Id="1" Cabinet="product.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">{}
      <Directory Id="ProgramFiles64Folder"><Directory Id="DOTNETHOME" Name="dotnet">{}{dirs}</Directory></Directory>
    </Directory>
    <Feature Id="MainFeature" Title="Main Feature" Level="1">{refs}</Feature>
  </Product>
</Wix>
"#,
        top("TARGETDIR"),
        top("DOTNETHOME"),
    );
    std::fs::create_dir_all(dir).unwrap();
    let source = dir.join(format!("{name}.wxs"));
    std::fs::write(&source, wxs).unwrap();
    let out = dir.join(format!("{name}-6.0.36-win-x64.msi"));
    let built = Command::new("wixl")
        .args(["--arch", "x64", "-o"])
        .arg(&out)
        .arg(&source)
        .current_dir(dir)
        .output()
        .expect("cannot run wixl (apt-get install wixl)");
    assert!(
        built.status.success(),
        "wixl failed for the {name} stand-in: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    if name == "dotnet-host" {
        // Microsoft's `cmdPath` also appends the directory to the system PATH (`E_PATH`).
        msi::add_path_entry(&out, "cmdPath").unwrap();
    }
    out
}

/// Installing our 6.0.37 over Microsoft's 6.0.36 (host, hostfxr, runtime: a stand-in rebuilt
/// from Microsoft's WiX sources, see [`microsoft_6_0_36_stand_in`]) leaves both runtimes working,
/// and uninstalling ours leaves Microsoft's 6.0.36 complete: the shared muxer and licence files
/// (same component GUIDs: Windows Installer keeps them for Microsoft's product), its hostfxr,
/// framework, registry values and `PATH` entry. Uninstalling Microsoft's afterwards leaves nothing.
#[test]
fn installing_ours_over_microsofts_6_0_36_and_uninstalling_it_leaves_microsofts_working() {
    let wine = WinePrefix::new();
    let work = tempfile::tempdir().unwrap();
    let dotnet = wine.dotnet_home();
    let microsoft: Vec<PathBuf> = ["dotnet-host", "dotnet-hostfxr", "dotnet-runtime"]
        .iter()
        .map(|name| microsoft_6_0_36_stand_in(work.path(), name))
        .collect();
    for m in &microsoft {
        wine.msiexec("/i", m);
    }
    let microsofts_files = tree_files(&dotnet);
    assert!(
        microsofts_files.contains_key("dotnet.exe"),
        "{:?}",
        microsofts_files.keys()
    );
    assert!(microsofts_files.contains_key("host/fxr/6.0.36/hostfxr.dll"));
    let runtimes = wine.list_runtimes();
    assert!(
        runtimes.contains("Microsoft.NETCore.App 6.0.36 ["),
        "{runtimes}"
    );
    let microsofts_keys = wine.reg(INSTALLED_32).unwrap();
    assert!(
        microsofts_keys.contains("6.0.36    REG_DWORD    0x1"),
        "{microsofts_keys}"
    );

    // Ours over Microsoft's: both runtimes are there and run.
    let ours = built_msi("6.0.37", Product::Runtime);
    wine.msiexec("/i", &ours.path);
    let both = tree_files(&dotnet);
    for (path, bytes) in &microsofts_files {
        if path != "dotnet.exe" {
            assert!(
                both.get(path) == Some(bytes),
                "{path} changed by our install"
            );
        }
    }
    for (path, bytes) in zip_files(&ours.archive) {
        assert!(
            both.get(&path) == Some(&bytes),
            "{path} of ours is not installed"
        );
    }
    let runtimes = wine.list_runtimes();
    assert!(
        runtimes.contains("Microsoft.NETCore.App 6.0.36 [")
            && runtimes.contains("Microsoft.NETCore.App 6.0.37 ["),
        "{runtimes}"
    );
    let keys = wine.reg(INSTALLED_32).unwrap();
    assert!(
        keys.contains("6.0.36    REG_DWORD    0x1") && keys.contains("6.0.37    REG_DWORD    0x1"),
        "{keys}"
    );

    // Uninstalling ours leaves Microsoft's 6.0.36 complete and working.
    wine.msiexec("/x", &ours.path);
    let left = tree_files(&dotnet);
    let missing: Vec<&String> = microsofts_files
        .keys()
        .filter(|k| !left.contains_key(*k))
        .collect();
    let extra: Vec<&String> = left
        .keys()
        .filter(|k| !microsofts_files.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "uninstalling ours removed {missing:?} of Microsoft's and left {extra:?} of ours"
    );
    for (path, bytes) in &microsofts_files {
        // The muxer is the newer of the two, as after any host update (same component).
        if path != "dotnet.exe" {
            assert!(left[path] == *bytes, "{path} differs from Microsoft's");
        }
    }
    let runtimes = wine.list_runtimes();
    assert!(
        runtimes.contains("Microsoft.NETCore.App 6.0.36 ["),
        "{runtimes}"
    );
    assert!(!runtimes.contains("6.0.37"), "{runtimes}");
    let keys = wine
        .reg(INSTALLED_32)
        .expect("Microsoft's registration is kept");
    assert!(keys.contains("6.0.36    REG_DWORD    0x1"), "{keys}");
    assert!(!keys.contains("6.0.37    REG_DWORD"), "{keys}");
    // The shared values keep the newer host's version, as after any of Microsoft's host updates.
    wine.assert_host_registered("6.0.37");

    // And uninstalling Microsoft's as well leaves nothing: the shared components had two clients.
    for m in &microsoft {
        wine.msiexec("/x", m);
    }
    assert!(!dotnet.exists(), "left: {:?}", tree_files(&dotnet).keys());
    assert_eq!(wine.reg(r"HKLM\SOFTWARE\WOW6432Node\dotnet"), None);
    assert_eq!(wine.reg(r"HKLM\SOFTWARE\dotnet"), None);
}

fn osslsigncode_verify(file: &Path, ca: &Path) -> std::process::Output {
    Command::new("osslsigncode")
        .args(["verify", "-CAfile", ca.to_str().unwrap(), "-in"])
        .arg(file)
        .output()
        .expect("cannot run osslsigncode (apt-get install osslsigncode)")
}

#[test]
fn authenticode_signs_msis_and_the_binaries_in_zips_and_a_tampered_msi_fails() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let password = "correct horse battery staple";
    let (pfx, ca) = support::throwaway_certificate(dir.path(), password);
    let pfx_base64 = base64::engine::general_purpose::STANDARD.encode(&pfx);
    let work = dir.path().join("win-x64");
    std::fs::create_dir_all(&work).unwrap();
    let msi = work.join("dotnet-runtime-6.0.37-win-x64.msi");
    std::fs::copy(&built_msi("6.0.37", Product::Runtime).path, &msi).unwrap();
    let zip = msi::archive_from_test_runtime(windows_root(), Product::Runtime, v("6.0.37"), &work)
        .unwrap();
    let unsigned_zip = zip_files(&zip);
    // A build's manifest lists the zip: signing must keep it true.
    let manifest = format!(
        "{{\n  \"version\": \"6.0.37\",\n  \"rid\": \"win-x64\",\n  \"official-build-id\": \"20250114.3\",\n  \"files\": [\n    {{ \"name\": \"{}\", \"repo\": \"runtime\", \"size\": 1, \"sha512\": \"00\" }}\n  ]\n}}\n",
        zip.file_name().unwrap().to_string_lossy()
    );
    std::fs::write(work.join("manifest.json"), manifest).unwrap();
    let xtask = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("ELS_AUTHENTICODE_PFX")
            .env_remove("ELS_AUTHENTICODE_PASSWORD");
        for (k, val) in env {
            cmd.env(k, val);
        }
        cmd.output().unwrap()
    };
    let secrets = [
        ("ELS_AUTHENTICODE_PFX", pfx_base64.as_str()),
        ("ELS_AUTHENTICODE_PASSWORD", password),
    ];
    let files = [msi.to_str().unwrap(), zip.to_str().unwrap()];

    // Unsigned, the binaries of the fork's build would not verify against our certificate.
    assert!(!osslsigncode_verify(&msi, &ca).status.success());

    let out = xtask(
        &[&["release", "authenticode"][..], &files].concat(),
        &secrets,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let binaries = unsigned_zip
        .keys()
        .filter(|n| n.ends_with(".exe") || n.ends_with(".dll"))
        .count();
    assert!(
        stdout.contains(&format!(
            "({binaries} binaries inside); manifest.json updated"
        )),
        "{stdout}"
    );
    for secret in [password, &pfx_base64[..40]] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    // The consumer's tool checks them: the MSI and every PE file inside the zip.
    let verified = osslsigncode_verify(&msi, &ca);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let signed_zip = zip_files(&zip);
    assert_eq!(
        signed_zip.keys().collect::<Vec<_>>(),
        unsigned_zip.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &signed_zip {
        let pe = name.ends_with(".exe") || name.ends_with(".dll");
        assert_eq!(pe, bytes != &unsigned_zip[name], "{name}");
        // The muxer, hostfxr and a framework assembly, checked here with the consumer's tool;
        // `--verify` below checks every one.
        if name == "dotnet.exe"
            || name.ends_with("/hostfxr.dll")
            || name.ends_with("/System.Private.CoreLib.dll")
        {
            let extracted = dir.path().join("extracted.bin");
            std::fs::write(&extracted, bytes).unwrap();
            assert!(
                osslsigncode_verify(&extracted, &ca).status.success(),
                "{name}"
            );
        }
    }
    // The signed MSI still installs the same files.
    let extracted = dir.path().join("extract");
    run(
        "msiextract",
        &["-C", extracted.to_str().unwrap(), msi.to_str().unwrap()],
        &[],
    );
    assert_eq!(
        tree_files(&extracted.join("dotnet")).len(),
        built_msi("6.0.37", Product::Runtime).files
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("manifest.json")).unwrap()).unwrap();
    let zip_bytes = std::fs::read(&zip).unwrap();
    assert_eq!(
        manifest["files"][0]["sha512"].as_str().unwrap(),
        xtask::official_build::sha512_hex(&zip_bytes)
    );
    assert_eq!(manifest["files"][0]["size"], zip_bytes.len());
    let verify_cli = |paths: &[&str]| {
        let verify = [
            "release",
            "authenticode",
            "--verify",
            "--ca",
            ca.to_str().unwrap(),
        ];
        xtask(&[&verify[..], paths].concat(), &[])
    };
    let out = verify_cli(&files);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Signing with --json: one document following schemas/release-authenticode.schema.json,
    // here for an unsigned copy of the MSI in a directory of its own (no manifest to update).
    let alone = dir.path().join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let copy = alone.join("dotnet-runtime-6.0.37-win-x64.msi");
    std::fs::copy(&built_msi("6.0.37", Product::Runtime).path, &copy).unwrap();
    let args = ["release", "authenticode", "--json", copy.to_str().unwrap()];
    let out = xtask(&args, &secrets);
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    support::check_json_output(&args, &out);
    let signed = support::json(&out);
    assert_eq!(signed["files"][0]["signed"], 1, "{signed:#}");
    assert_eq!(signed["files"][0]["manifest_updated"], false, "{signed:#}");
    assert!(osslsigncode_verify(&copy, &ca).status.success());
    // Verifying with --json: schemas/release-authenticode-verify.schema.json.
    let args = [
        "release",
        "authenticode",
        "--verify",
        "--ca",
        ca.to_str().unwrap(),
        "--json",
        files[0],
        files[1],
    ];
    let out = xtask(&args, &[]);
    assert_eq!(code(&out), 0, "{}", support::stderr(&out));
    support::check_json_output(&args, &out);
    assert_eq!(
        support::json(&out)["files"].as_array().unwrap().len(),
        2,
        "{}",
        support::stdout(&out)
    );

    // A tampered MSI (one byte of its product name changed) fails verification.
    let mut bytes = std::fs::read(&msi).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"Contoso")
        .expect("the product name is in the string pool");
    bytes[at] = b'K';
    let tampered = dir.path().join("tampered.msi");
    std::fs::write(&tampered, &bytes).unwrap();
    assert!(!osslsigncode_verify(&tampered, &ca).status.success());
    let out = verify_cli(&[tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("does not verify"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // So does a signature by another certificate.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (_, other_ca) = support::throwaway_certificate(&other, "x");
    assert!(!osslsigncode_verify(&msi, &other_ca).status.success());

    // Refused, exit 2, nothing changed: a wrong password, no certificate, an already hashed file.
    let before = std::fs::read(&msi).unwrap();
    let out = xtask(
        &["release", "authenticode", msi.to_str().unwrap()],
        &[
            ("ELS_AUTHENTICODE_PFX", pfx_base64.as_str()),
            ("ELS_AUTHENTICODE_PASSWORD", "wrong"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong"));
    let out = xtask(&["release", "authenticode", msi.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set $ELS_AUTHENTICODE_PFX"));
    std::fs::write(
        work.join("SHA512SUMS"),
        format!(
            "{}  dotnet-runtime-6.0.37-win-x64.msi\n",
            xtask::official_build::sha512_hex(&before)
        ),
    )
    .unwrap();
    let out = xtask(
        &[&["release", "authenticode"][..], &files].concat(),
        &secrets,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sign it before it is hashed"));
    assert_eq!(std::fs::read(&msi).unwrap(), before);
    assert_eq!(std::fs::read(&zip).unwrap(), zip_bytes);
}

/// Every file of the release directory with its bytes: its whole state.
fn release_state(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree_files(dir)
}

/// Lists a win-x64 archive in release.json (`rid` `win-x64`, like the release assembles them)
/// and writes SHA512SUMS again, as a release built for Windows holds them.
fn list_in_release(release: &Path, archive: &Path, component: &str) {
    let path = release.join("release.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let file = archive.file_name().unwrap().to_str().unwrap();
    let hash = format!("{:x}", Sha512::digest(std::fs::read(archive).unwrap()));
    let version = doc["releases"][0]["release-version"]
        .as_str()
        .unwrap()
        .to_string();
    // The release lists no desktop runtime files yet: its component starts empty.
    let files = &mut doc["releases"][0][component]["files"];
    if files.is_null() {
        *files = serde_json::json!([]);
    }
    files.as_array_mut().unwrap().push(serde_json::json!({
        "name": file.replace(&format!("-{version}"), ""),
        "rid": "win-x64",
        "url": format!("https://example.org/{file}"),
        "hash": hash,
    }));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    xtask::release::write_checksums(release).unwrap();
}

/// `cargo xtask package --formats msi` through the real binary: bad archives (no `dotnet.exe`,
/// frameworks of two versions, a version not above the base) exit 2 with the release directory
/// byte for byte unchanged; good ones add one MSI per product to SHA512SUMS and release.json,
/// which `msiinfo`/`msiextract` read back and `release verify` accepts.
#[test]
fn package_formats_msi_adds_the_installers_to_the_release_and_refuses_bad_archives() {
    let runtimes = testenv::from_env_or_ensure(&testenv::cache_dir(&target()))
        .unwrap_or_else(|e| panic!("the package tests need the real test runtimes: {e:#}"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fork");
    std::fs::create_dir_all(&root).unwrap();
    let (_, release) =
        xtask::package::demo::release_from_test_runtime(&root, &runtimes.dotnet_root, "2026-11-10")
            .unwrap();
    let version = release.file_name().unwrap().to_str().unwrap().to_string();
    for product in Product::ALL {
        let archive =
            msi::archive_from_test_runtime(windows_root(), product, v(&version), &release).unwrap();
        list_in_release(&release, &archive, product.release_component());
    }
    let home = GpgHome::temporary().unwrap();
    let (secret, public, _) =
        sign::throwaway_key(&home, "net6-els test <test@example.org>").unwrap();
    let public_key = root.join("net6-els.asc");
    std::fs::write(&public_key, public).unwrap();
    sign::sign(&release, &SigningKey::Armored(secret.clone()), None).unwrap();
    let release_arg = release.display().to_string();
    let package_msi = |authenticode: &[(&str, &str)]| {
        let env = [&[("ELS_SIGNING_KEY", secret.as_str())][..], authenticode].concat();
        xtask(
            &root,
            &[
                "package",
                "--release",
                &release_arg,
                "--formats",
                "msi",
                "--json",
            ],
            &env,
        )
    };
    let runtime_zip = release.join(Product::Runtime.archive_name(v(&version)));
    let good_zip = std::fs::read(&runtime_zip).unwrap();
    let rewrite = |edit: &dyn Fn(&str) -> Option<String>| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(good_zip.clone())).unwrap();
        for i in 0..zip.len() {
            let mut e = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            if let Some(name) = edit(&e.name().unwrap()) {
                w.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                std::io::Write::write_all(&mut w, &bytes).unwrap();
            }
        }
        std::fs::write(&runtime_zip, w.finish().unwrap().into_inner()).unwrap();
    };

    let refused = |what: &str, message: &str| {
        let before = release_state(&release);
        let out = package_msi(&[]);
        assert_eq!(code(&out), 2, "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{what}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{what}: {}", stdout(&out));
        assert!(
            release_state(&release) == before,
            "{what}: the release directory changed"
        );
    };
    rewrite(&|n| (n != "dotnet.exe").then(|| n.to_string()));
    refused("no dotnet.exe", "no dotnet.exe at the top");
    rewrite(&|n| Some(n.replace(&format!("host/fxr/{version}/"), "host/fxr/6.0.99/")));
    refused("two versions", "must share one version");
    std::fs::write(&runtime_zip, &good_zip).unwrap();
    let config = root.join("els.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        toml.replace(
            "base-version = \"6.0.36\"",
            &format!("base-version = \"{version}\""),
        ),
    )
    .unwrap();
    refused("not above the base", "is not above Microsoft's");
    std::fs::write(&config, toml).unwrap();

    use base64::Engine as _;
    let password = "correct horse battery staple";
    let (pfx, ca) = support::throwaway_certificate(tmp.path(), password);
    let pfx_base64 = base64::engine::general_purpose::STANDARD.encode(&pfx);
    let out = package_msi(&[
        ("ELS_AUTHENTICODE_PFX", pfx_base64.as_str()),
        ("ELS_AUTHENTICODE_PASSWORD", password),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = report["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 3, "{report:#}");
    let sums = std::fs::read_to_string(release.join("SHA512SUMS")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("release.json")).unwrap()).unwrap();
    for product in Product::ALL {
        let name = product.msi_name(v(&version));
        let path = release.join(&name);
        let hash = format!("{:x}", Sha512::digest(std::fs::read(&path).unwrap()));
        assert!(sums.contains(&format!("{hash}  {name}")), "{name}: {sums}");
        let listed = doc["releases"][0][product.release_component()]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["url"].as_str().unwrap().ends_with(&name))
            .unwrap_or_else(|| panic!("{name} is not in release.json"));
        assert_eq!(listed["rid"], "win-x64");
        assert_eq!(listed["hash"], hash.as_str());
        assert_eq!(
            listed["name"],
            format!("{}-win-x64.msi", product.file_prefix())
        );
        assert_eq!(property(&path, "ProductVersion"), version);
        // Signed before it was hashed: the hash above is of the signed MSI.
        let verified = osslsigncode_verify(&path, &ca);
        assert!(
            verified.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&verified.stdout)
        );
        // msiextract gives back exactly the files of the product's framework from the archive.
        let extracted_dir = tempfile::tempdir().unwrap();
        run(
            "msiextract",
            &[
                "-C",
                extracted_dir.path().to_str().unwrap(),
                path.to_str().unwrap(),
            ],
            &[],
        );
        let extracted = tree_files(&extracted_dir.path().join("dotnet"));
        let framework = format!("shared/{}/{version}/", product.framework());
        let expected: BTreeMap<String, Vec<u8>> =
            zip_files(&release.join(product.archive_name(v(&version))))
                .into_iter()
                .filter(|(k, _)| match product {
                    Product::Runtime => !k.starts_with("shared/") || k.starts_with(&framework),
                    _ => k.starts_with(&framework),
                })
                .collect();
        assert!(
            extracted == expected,
            "{name}: the installed files differ from the archive's"
        );
    }
    let verify = xtask(
        &root,
        &[
            "release",
            "verify",
            &release_arg,
            "--key",
            &public_key.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code(&verify), 0, "{}{}", stdout(&verify), stderr(&verify));
}
