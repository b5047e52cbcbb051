//! `cargo xtask feed`: a static NuGet V3 feed published from a release directory, served from a
//! loopback HTTP server and read by the real NuGet client (nuget.exe 5.8 and the NuGet client
//! library inside it, under Mono).

use crate::support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::{code, json, stderr, stdout, xtask};
use xtask::nuget_feed::serve::StaticServer;

/// nuget.exe, installed by `cargo xtask test` (npm `nuget-exe`).
fn nuget_exe() -> PathBuf {
    let path = std::env::var_os("ELS_NUGET_EXE").map(PathBuf::from).expect(
        "ELS_NUGET_EXE is not set: run the tests with `cargo xtask test`, which installs nuget.exe",
    );
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}

/// Runs `mono nuget.exe <args>` with its own caches and config under `home`.
fn nuget(home: &Path, args: &[&str]) -> Output {
    let config = home.join("NuGet.Config");
    if !config.exists() {
        std::fs::write(
            &config,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration />\n",
        )
        .unwrap();
    }
    Command::new("mono")
        .arg(nuget_exe())
        .args(args)
        .args(["-ConfigFile", config.to_str().unwrap(), "-NonInteractive"])
        .env("HOME", home)
        .env("NUGET_HTTP_CACHE_PATH", home.join("http-cache"))
        .env("NUGET_PACKAGES", home.join("packages"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .expect("mono runs nuget.exe (install mono-complete)")
}

/// A search with the NuGet client library inside nuget.exe (`PackageSearchResource`, which reads
/// the feed's SearchQueryService), compiled with mcs; one `id version` line per hit.
const SEARCH_CS: &str = r#"
using System;
using System.Threading;
using NuGet.Common;
using NuGet.Configuration;
using NuGet.Protocol;
using NuGet.Protocol.Core.Types;

class Search
{
    static int Main(string[] args)
    {
        var repository = Repository.Factory.GetCoreV3(args[0], FeedType.HttpV3);
        var search = repository.GetResourceAsync<PackageSearchResource>().Result;
        var hits = search.SearchAsync(args[1], new SearchFilter(true), 0, 20, NullLogger.Instance, CancellationToken.None).Result;
        foreach (var hit in hits)
            Console.WriteLine(hit.Identity.Id + " " + hit.Identity.Version);
        return 0;
    }
}
"#;

fn search(home: &Path, index: &str, query: &str) -> String {
    let dir = home.join("search");
    std::fs::create_dir_all(&dir).unwrap();
    // The program binds to the assembly named NuGet: nuget.exe under that name, beside it.
    std::fs::copy(nuget_exe(), dir.join("NuGet.exe")).unwrap();
    std::fs::write(dir.join("Search.cs"), SEARCH_CS).unwrap();
    let mcs = std::env::var_os("ELS_TEST_MCS").unwrap_or_else(|| "mcs".into());
    let compiled = Command::new(mcs)
        .current_dir(&dir)
        .args([
            "-out:Search.exe",
            "-r:NuGet.exe",
            "-r:System.Net.Http.dll",
            "Search.cs",
        ])
        .output()
        .expect("mcs compiles the search client (install mono-complete)");
    assert_eq!(
        code(&compiled),
        0,
        "{}\n{}",
        stdout(&compiled),
        stderr(&compiled)
    );
    let out = Command::new("mono")
        .arg(dir.join("Search.exe"))
        .args([index, query])
        .env("HOME", home)
        .env("NUGET_HTTP_CACHE_PATH", home.join("http-cache"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// A nupkg as `nuget pack` writes it: manifest, OPC parts and one content file.
fn nupkg(id: &str, version: &str, marker: &str, dependencies: &[(&str, &str)]) -> Vec<u8> {
    let deps: String = dependencies
        .iter()
        .map(|(d, v)| {
            format!("<dependency id=\"{d}\" version=\"{v}\" exclude=\"Build,Analyzers\" />")
        })
        .collect();
    let nuspec = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\">\n  <metadata>\n    <id>{id}</id>\n    <version>{version}</version>\n    <authors>.NET 6 ELS</authors>\n    <description>{id} with the fork's security fixes.</description>\n    <tags>els security</tags>\n    <dependencies>\n      <group targetFramework=\".NETStandard2.0\">{deps}</group>\n    </dependencies>\n  </metadata>\n</package>\n"
    );
    zip_of(&[
        (&format!("{id}.nuspec"), nuspec.as_bytes()),
        ("[Content_Types].xml", b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\" /><Default Extension=\"nuspec\" ContentType=\"application/octet\" /><Default Extension=\"txt\" ContentType=\"application/octet\" /></Types>\n"),
        ("_rels/.rels", format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Type=\"http://schemas.microsoft.com/packaging/2010/07/manifest\" Target=\"/{id}.nuspec\" Id=\"R1\" /></Relationships>\n").as_bytes()),
        ("content/els-marker.txt", marker.as_bytes()),
    ])
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Writes a release directory: the files and their SHA512SUMS.
fn release(dir: &Path, files: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut sums = String::new();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
        sums.push_str(&format!(
            "{}  {name}\n",
            xtask::official_build::sha512_hex(bytes)
        ));
    }
    std::fs::write(dir.join("SHA512SUMS"), sums).unwrap();
}

const XML: &str = "System.Security.Cryptography.Xml";
const PKCS: &str = "System.Security.Cryptography.Pkcs";
const RUNTIME_PACK: &str = "Microsoft.NETCore.App.Runtime.linux-x64";

/// The fork's 6.0.37 release: two patched out-of-band packages (one depending on the other) and a
/// runtime pack.
fn release_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "System.Security.Cryptography.Xml.6.0.1.1.nupkg",
            nupkg(
                XML,
                "6.0.1.1",
                "xml patched by the fork",
                &[(PKCS, "6.0.1.1")],
            ),
        ),
        (
            "System.Security.Cryptography.Pkcs.6.0.1.1.nupkg",
            nupkg(PKCS, "6.0.1.1", "pkcs patched by the fork", &[]),
        ),
        (
            "Microsoft.NETCore.App.Runtime.linux-x64.6.0.37.nupkg",
            nupkg(RUNTIME_PACK, "6.0.37", "runtime pack 6.0.37", &[]),
        ),
        (
            "dotnet-runtime-6.0.37-linux-x64.tar.gz",
            b"not a nupkg".to_vec(),
        ),
    ]
}

struct Sandbox {
    _server: StaticServer,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    release: PathBuf,
    feeds: PathBuf,
    port: u16,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let feeds = root.join("feeds");
        std::fs::create_dir_all(&feeds).unwrap();
        let server = StaticServer::start(&feeds).unwrap();
        let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();
        std::fs::write(
            root.join("els.toml"),
            format!("[feed]\nbase-url = \"http://127.0.0.1:{port}/\"\n"),
        )
        .unwrap();
        let release_dir = root.join("release/6.0.37");
        release(&release_dir, &release_files());
        Sandbox {
            _server: server,
            _tmp: tmp,
            root,
            release: release_dir,
            feeds,
            port,
        }
    }

    fn feed(&self, args: &[&str]) -> Output {
        let feed_dir = self.feeds.to_str().unwrap().to_string();
        let mut argv = vec!["feed"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--feed-dir", &feed_dir]);
        xtask(&self.root, &argv, &[])
    }

    fn publish(&self, channel: &str) -> Output {
        let release = self.release.to_str().unwrap().to_string();
        self.feed(&[
            "publish",
            "--release",
            &release,
            "--channel",
            channel,
            "--json",
        ])
    }

    fn index_url(&self, channel: &str) -> String {
        format!("http://127.0.0.1:{}/{channel}/index.json", self.port)
    }

    /// Every file of the feed directory with its bytes.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        walkdir::WalkDir::new(&self.feeds)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            // The publish lock records its last holder; it is no part of a feed.
            .filter(|e| e.file_name() != xtask::publish_lock::FILE_NAME)
            .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
            .collect()
    }

    fn doc(&self, channel: &str, rel: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.feeds.join(channel).join(rel)).unwrap()).unwrap()
    }
}

fn ok(o: &Output) {
    assert_eq!(code(o), 0, "stdout: {}\nstderr: {}", stdout(o), stderr(o));
}

#[test]
fn nuget_exe_installs_our_packages_from_the_published_feed() {
    let s = Sandbox::new();
    let out = s.publish("lab");
    ok(&out);
    let report = json(&out);
    assert_eq!(report["channel"], "lab");
    assert_eq!(report["index_url"], s.index_url("lab"));
    assert_eq!(report["added"].as_array().unwrap().len(), 3, "{report}");

    let home = tempfile::tempdir().unwrap();
    let dest = home.path().join("out");
    let index = s.index_url("lab");
    let dest_arg = dest.to_str().unwrap();
    let install = nuget(
        home.path(),
        &[
            "install",
            XML,
            "-Version",
            "6.0.1.1",
            "-Source",
            &index,
            "-OutputDirectory",
            dest_arg,
        ],
    );
    assert_eq!(
        code(&install),
        0,
        "nuget install failed:\n{}\n{}",
        stdout(&install),
        stderr(&install)
    );
    // Our bytes, and the dependency resolved from our feed too.
    let marker =
        std::fs::read_to_string(dest.join(format!("{XML}.6.0.1.1/content/els-marker.txt")))
            .unwrap();
    assert_eq!(marker, "xml patched by the fork");
    let dep = std::fs::read_to_string(dest.join(format!("{PKCS}.6.0.1.1/content/els-marker.txt")))
        .unwrap();
    assert_eq!(dep, "pkcs patched by the fork");
    let installed = std::fs::read(dest.join(format!("{XML}.6.0.1.1/{XML}.6.0.1.1.nupkg"))).unwrap();
    assert_eq!(
        installed,
        std::fs::read(
            s.release
                .join("System.Security.Cryptography.Xml.6.0.1.1.nupkg")
        )
        .unwrap()
    );

    // nuget.exe 5.8's `list` needs a V2 gallery; its own search client (NuGet.Protocol, inside
    // nuget.exe) reads the SearchQueryService.
    let found = search(home.path(), &index, "Cryptography");
    assert!(found.contains(&format!("{XML} 6.0.1.1")), "{found}");
    assert!(found.contains(&format!("{RUNTIME_PACK} 6.0.37")), "{found}");

    let missing = nuget(
        home.path(),
        &[
            "install",
            XML,
            "-Version",
            "6.0.1",
            "-Source",
            &index,
            "-OutputDirectory",
            dest_arg,
        ],
    );
    assert_ne!(
        code(&missing),
        0,
        "a version we do not have must not install"
    );
    let said = format!("{}{}", stdout(&missing), stderr(&missing));
    assert!(
        said.contains(&format!("Package '{XML} 6.0.1' is not found")),
        "{said}"
    );
    assert!(!dest.join(format!("{XML}.6.0.1")).exists());
}

#[test]
fn documents_have_the_shapes_nuget_documents() {
    let s = Sandbox::new();
    // A pre-release with capitals: the flat container lists versions lower-cased and sorted.
    let mut files = release_files();
    files.push((
        "System.Security.Cryptography.Xml.6.0.2-ELS.1.nupkg",
        nupkg(XML, "6.0.2-ELS.1", "pre", &[]),
    ));
    files.push((
        "System.Security.Cryptography.Xml.6.0.1.2.nupkg",
        nupkg(XML, "6.0.1.2", "second", &[]),
    ));
    release(&s.release, &files);
    ok(&s.publish("lab"));
    let base = format!("http://127.0.0.1:{}/lab", s.port);

    let index = s.doc("lab", "index.json");
    assert_eq!(index["version"], "3.0.0");
    let types: Vec<&str> = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["@type"].as_str().unwrap())
        .collect();
    for required in [
        "PackageBaseAddress/3.0.0",
        "RegistrationsBaseUrl/3.6.0",
        "RegistrationsBaseUrl/3.0.0-rc",
        "SearchQueryService",
    ] {
        assert!(
            types.contains(&required),
            "{required} missing from {types:?}"
        );
    }
    for r in index["resources"].as_array().unwrap() {
        assert!(r["@id"].as_str().unwrap().starts_with(&base), "{r}");
    }

    let xml = XML.to_lowercase();
    let versions = s.doc("lab", &format!("flatcontainer/{xml}/index.json"));
    assert_eq!(
        versions["versions"],
        serde_json::json!(["6.0.1.1", "6.0.1.2", "6.0.2-els.1"])
    );
    assert!(s
        .feeds
        .join(format!(
            "lab/flatcontainer/{xml}/6.0.2-els.1/{xml}.6.0.2-els.1.nupkg"
        ))
        .is_file());
    assert!(s
        .feeds
        .join(format!("lab/flatcontainer/{xml}/6.0.2-els.1/{xml}.nuspec"))
        .is_file());

    let reg = s.doc("lab", &format!("registration/{xml}/index.json"));
    assert_eq!(reg["count"], 1);
    let page = &reg["items"][0];
    assert_eq!(
        (page["lower"].as_str(), page["upper"].as_str()),
        (Some("6.0.1.1"), Some("6.0.2-ELS.1"))
    );
    assert_eq!(page["count"], 3);
    let leaf = &page["items"][0];
    for field in ["@id", "catalogEntry", "packageContent"] {
        assert!(
            !leaf[field].is_null(),
            "registration leaf without {field}: {leaf}"
        );
    }
    let entry = &leaf["catalogEntry"];
    for field in [
        "@id",
        "id",
        "version",
        "authors",
        "description",
        "listed",
        "published",
        "packageContent",
        "dependencyGroups",
    ] {
        assert!(
            !entry[field].is_null(),
            "catalog entry without {field}: {entry}"
        );
    }
    assert_eq!(entry["id"], XML);
    assert_eq!(entry["version"], "6.0.1.1");
    assert_eq!(
        entry["packageContent"],
        format!("{base}/flatcontainer/{xml}/6.0.1.1/{xml}.6.0.1.1.nupkg")
    );
    let group = &entry["dependencyGroups"][0];
    assert_eq!(group["targetFramework"], ".NETStandard2.0");
    assert_eq!(group["dependencies"][0]["id"], PKCS);
    assert_eq!(group["dependencies"][0]["range"], "[6.0.1.1, )");
    let leaf_doc = s.doc("lab", &format!("registration/{xml}/6.0.1.1.json"));
    assert_eq!(leaf_doc["packageContent"], entry["packageContent"]);

    let search = s.doc("lab", "search/query.json");
    assert_eq!(search["totalHits"], 3);
    let hit = search["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == XML)
        .unwrap();
    assert_eq!(hit["version"], "6.0.2-ELS.1");
    assert_eq!(hit["versions"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_input_is_refused_with_status_2_and_the_feed_unchanged() {
    let s = Sandbox::new();
    ok(&s.publish("lab"));
    let before = s.snapshot();
    // Publishing the same release again changes nothing.
    let again = s.publish("lab");
    ok(&again);
    assert_eq!(json(&again)["unchanged"].as_array().unwrap().len(), 3);
    assert_eq!(s.snapshot(), before);

    let no_manifest = zip_of(&[("content/readme.txt", b"no manifest")]);
    let other_id = nupkg("System.Text.Encodings.Web", "6.0.1.1", "x", &[]);
    let other_bytes = nupkg(XML, "6.0.1.1", "rebuilt with other bytes", &[]);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "System.Formats.Asn1.6.0.1.1.nupkg",
            no_manifest,
            "has no .nuspec",
        ),
        (
            "System.Security.Cryptography.Cose.6.0.1.1.nupkg",
            other_id,
            "should be named System.Text.Encodings.Web.6.0.1.1.nupkg",
        ),
        (
            "System.Security.Cryptography.Xml.6.0.1.1.nupkg",
            other_bytes,
            "with different bytes",
        ),
    ];
    for (name, bytes, message) in cases {
        let mut files = release_files();
        files.retain(|(n, _)| *n != name);
        files.push((name, bytes));
        release(&s.release, &files);
        let out = s.publish("lab");
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(name.split(".6.0").next().unwrap()),
            "{}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "");
        assert_eq!(s.snapshot(), before, "{name} changed the feed");
        std::fs::remove_dir_all(&s.release).unwrap();
    }

    // A file that changed after the release was assembled is not published either.
    release(&s.release, &release_files());
    std::fs::write(
        s.release
            .join("Microsoft.NETCore.App.Runtime.linux-x64.6.0.37.nupkg"),
        nupkg(RUNTIME_PACK, "6.0.37", "tampered", &[]),
    )
    .unwrap();
    let out = s.publish("stable");
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("does not match its SHA-512"),
        "{}",
        stderr(&out)
    );
    assert!(!s.feeds.join("stable").exists());
}

#[test]
fn promote_copies_lab_bytes_to_stable_and_verify_checks_the_feed() {
    let s = Sandbox::new();
    let release = s.release.to_str().unwrap().to_string();
    let refused = s.feed(&["promote", "--release", &release]);
    assert_eq!(code(&refused), 2);
    assert!(
        stderr(&refused).contains("has not been published to the lab feed"),
        "{}",
        stderr(&refused)
    );

    ok(&s.publish("lab"));
    let promoted = s.feed(&["promote", "--release", &release, "--json"]);
    ok(&promoted);
    assert_eq!(json(&promoted)["channel"], "stable");
    let record: Value =
        serde_json::from_slice(&std::fs::read(s.release.join("channels.json")).unwrap()).unwrap();
    assert!(
        record["channels"]["lab"]["feed"].is_string()
            && record["channels"]["stable"]["feed"].is_string(),
        "{record}"
    );
    let xml = XML.to_lowercase();
    let rel = format!("flatcontainer/{xml}/6.0.1.1/{xml}.6.0.1.1.nupkg");
    assert_eq!(
        std::fs::read(s.feeds.join("stable").join(&rel)).unwrap(),
        std::fs::read(s.feeds.join("lab").join(&rel)).unwrap()
    );
    assert_eq!(
        s.doc("stable", "index.json")["resources"][0]["@id"],
        format!("http://127.0.0.1:{}/stable/flatcontainer/", s.port)
    );

    // The stable feed serves the real client too.
    let home = tempfile::tempdir().unwrap();
    let dest = home.path().join("out");
    let install = nuget(
        home.path(),
        &[
            "install",
            RUNTIME_PACK,
            "-Version",
            "6.0.37",
            "-Source",
            &s.index_url("stable"),
            "-OutputDirectory",
            dest.to_str().unwrap(),
        ],
    );
    assert_eq!(
        code(&install),
        0,
        "{}\n{}",
        stdout(&install),
        stderr(&install)
    );

    let verify = s.feed(&[
        "verify",
        "--channel",
        "stable",
        "--release",
        &release,
        "--json",
    ]);
    ok(&verify);
    let report = json(&verify);
    assert_eq!(report["packages"], 3);
    assert_eq!(report["problems"], serde_json::json!([]));

    // A version list edited by hand, and a package replaced behind the feed's back.
    let list = s
        .feeds
        .join(format!("stable/flatcontainer/{xml}/index.json"));
    std::fs::write(&list, "{\"versions\": [\"6.0.1.1\", \"6.0.1.9\"]}\n").unwrap();
    let pkcs = PKCS.to_lowercase();
    std::fs::write(
        s.feeds.join(format!(
            "stable/flatcontainer/{pkcs}/6.0.1.1/{pkcs}.6.0.1.1.nupkg"
        )),
        nupkg(PKCS, "6.0.1.1", "swapped", &[]),
    )
    .unwrap();
    let verify = s.feed(&["verify", "--channel", "stable", "--release", &release]);
    assert_eq!(code(&verify), 1, "{}", stdout(&verify));
    let said = stdout(&verify);
    assert!(
        said.contains(&format!("flatcontainer/{xml}/index.json does not match")),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "{PKCS} 6.0.1.1 in the feed differs from the release's file"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("registration/{pkcs}/index.json does not match")),
        "{said}"
    );
}

#[test]
fn config_routes_exactly_the_feeds_ids_to_it() {
    let s = Sandbox::new();
    let empty = s.feed(&["config", "--channel", "lab"]);
    assert_eq!(code(&empty), 2);
    assert!(
        stderr(&empty).contains("holds no packages"),
        "{}",
        stderr(&empty)
    );
    ok(&s.publish("lab"));
    let out = s.feed(&["config", "--channel", "lab"]);
    ok(&out);
    let config = stdout(&out);
    let doc = config.as_str();
    assert!(
        doc.contains(&format!(
            "<add key=\"net6-els\" value=\"{}\" protocolVersion=\"3\" />",
            s.index_url("lab")
        )),
        "{doc}"
    );
    let ours = doc
        .split("<packageSource key=\"net6-els\">")
        .nth(1)
        .unwrap()
        .split("</packageSource>")
        .next()
        .unwrap();
    let patterns: Vec<&str> = ours
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("<package pattern=\"")?
                .strip_suffix("\" />")
        })
        .collect();
    assert_eq!(patterns, [RUNTIME_PACK, PKCS, XML]);
    let nuget_org = doc
        .split("<packageSource key=\"nuget.org\">")
        .nth(1)
        .unwrap()
        .split("</packageSource>")
        .next()
        .unwrap();
    assert!(nuget_org.contains("<package pattern=\"*\" />"));

    // The real client reads it: both sources are there.
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("customer.nuget.config");
    std::fs::write(&file, &config).unwrap();
    let sources = Command::new("mono")
        .arg(nuget_exe())
        .args([
            "sources",
            "list",
            "-ConfigFile",
            file.to_str().unwrap(),
            "-NonInteractive",
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(
        code(&sources),
        0,
        "{}\n{}",
        stdout(&sources),
        stderr(&sources)
    );
    let listed = stdout(&sources);
    assert!(
        listed.contains("net6-els [Enabled]") && listed.contains(&s.index_url("lab")),
        "{listed}"
    );
    assert!(listed.contains("nuget.org [Enabled]"), "{listed}");
}

/// Two publications of one feed directory never interleave: while another process (util-linux's
/// `flock`, the same kind of lock) holds the directory's publish lock, a publication waits and
/// says so, or gives up with exit 2 and the feed unchanged; the holder's death frees the lock.
/// Two real publishers started together both finish, and the feeds they leave check out.
#[test]
fn publications_of_one_feed_directory_wait_for_each_other() {
    use std::io::BufRead as _;
    use std::process::Stdio;

    let s = Sandbox::new();
    let lock = s.feeds.join(xtask::publish_lock::FILE_NAME);
    // `-o`: the command flock runs does not inherit the lock, so killing flock releases it.
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sh", "-c", "echo $$; exec sleep 600"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock runs (util-linux)");
    let mut sleeper = String::new();
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut sleeper)
        .unwrap();
    let sleeper = sleeper.trim().to_string();
    assert!(sleeper.parse::<u32>().is_ok(), "{sleeper}");

    let release = s.release.to_str().unwrap().to_string();
    let feeds = s.feeds.to_str().unwrap().to_string();
    let publish = |channel: &str, timeout: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.current_dir(&s.root)
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .args([
                "feed",
                "publish",
                "--release",
                &release,
                "--channel",
                channel,
            ])
            .args(["--feed-dir", &feeds, "--lock-timeout", timeout, "--json"]);
        cmd
    };

    let gave_up = publish("lab", "1").output().unwrap();
    assert_eq!(code(&gave_up), 2, "{}", stderr(&gave_up));
    assert!(
        stderr(&gave_up).contains("waiting for another publication")
            && stderr(&gave_up).contains("still holds")
            && stderr(&gave_up).contains(".publish-lock"),
        "{}",
        stderr(&gave_up)
    );
    assert_eq!(stdout(&gave_up), "");
    assert!(
        !s.feeds.join("lab").exists(),
        "the feed was written without the lock"
    );

    // A publisher that waits: it announces it, writes nothing while the lock is held, and
    // finishes once the holder is killed.
    let mut waiting = publish("lab", "600")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_lines = std::io::BufReader::new(waiting.stderr.take().unwrap()).lines();
    let first = stderr_lines.next().unwrap().unwrap();
    assert!(first.contains("waiting for another publication"), "{first}");
    assert!(
        !s.feeds.join("lab").exists(),
        "written while another held the lock"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    Command::new("kill").arg(&sleeper).status().unwrap();
    let done = waiting.wait_with_output().unwrap();
    assert_eq!(code(&done), 0);
    assert_eq!(json(&done)["added"].as_array().unwrap().len(), 3);

    // Two publishers at once, to stable and lab (again): both finish, the feeds are consistent.
    let both: Vec<_> = [publish("stable", "600"), publish("lab", "600")]
        .into_iter()
        .map(|mut cmd| {
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in both {
        ok(&child.wait_with_output().unwrap());
    }
    for channel in ["lab", "stable"] {
        ok(&s.feed(&["verify", "--channel", channel, "--release", &release]));
    }
}
