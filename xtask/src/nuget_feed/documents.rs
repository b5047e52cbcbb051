//! The JSON documents of a static NuGet V3 feed, built from the packages it holds: the service
//! index, flat-container version lists, registration indexes with inline catalog entries and
//! their leaves, and a search response. Every URL in them is absolute, under the feed's base URL.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::FeedPackage;

/// The service index, at the feed's root.
pub const SERVICE_INDEX: &str = "index.json";
/// The flat container (`PackageBaseAddress`): version lists and the packages themselves.
pub const FLAT_CONTAINER: &str = "flatcontainer";
/// Registration indexes and leaves.
pub const REGISTRATION: &str = "registration";
/// The search response: a static file, so it lists every package whatever the query.
pub const SEARCH: &str = "search/query.json";

/// Paths under the feed root (the same below the base URL).
pub fn flat_index(id_lower: &str) -> String {
    format!("{FLAT_CONTAINER}/{id_lower}/index.json")
}

/// The package file's path in the flat container.
pub fn nupkg(id_lower: &str, version_lower: &str) -> String {
    format!("{FLAT_CONTAINER}/{id_lower}/{version_lower}/{id_lower}.{version_lower}.nupkg")
}

/// The manifest's path in the flat container (NuGet: `{id}/{version}/{id}.nuspec`).
pub fn nuspec(id_lower: &str, version_lower: &str) -> String {
    format!("{FLAT_CONTAINER}/{id_lower}/{version_lower}/{id_lower}.nuspec")
}

/// The registration index of one package id.
pub fn registration_index(id_lower: &str) -> String {
    format!("{REGISTRATION}/{id_lower}/index.json")
}

/// The registration leaf of one package version.
pub fn registration_leaf(id_lower: &str, version_lower: &str) -> String {
    format!("{REGISTRATION}/{id_lower}/{version_lower}.json")
}

/// Every document of a feed holding `packages`, in the order a publication writes them: leaves
/// before the indexes that list them, the service index last — so a client reading the feed
/// while it is written never finds a listed package missing.
pub fn all(base: &str, packages: &[FeedPackage]) -> Vec<(String, Vec<u8>)> {
    let mut by_id: BTreeMap<String, Vec<&FeedPackage>> = BTreeMap::new();
    for p in packages {
        by_id.entry(p.id_lower()).or_default().push(p);
    }
    for versions in by_id.values_mut() {
        versions.sort_by(|a, b| a.nuspec.version.cmp(&b.nuspec.version));
    }
    let mut docs = Vec::new();
    for (id, versions) in &by_id {
        for p in versions {
            docs.push((
                registration_leaf(id, &p.version_lower()),
                pretty(&leaf(base, p)),
            ));
        }
    }
    for (id, versions) in &by_id {
        docs.push((
            registration_index(id),
            pretty(&registration(base, id, versions)),
        ));
        let list: Vec<String> = versions.iter().map(|p| p.version_lower()).collect();
        docs.push((flat_index(id), pretty(&json!({ "versions": list }))));
    }
    docs.push((SEARCH.to_string(), pretty(&search(base, &by_id))));
    docs.push((SERVICE_INDEX.to_string(), pretty(&service_index(base))));
    docs
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialize");
    bytes.push(b'\n');
    bytes
}

/// The resource types a client looks for. Registration is listed under every type version that
/// clients in use know (nuget.exe 5.x only knows the unversioned, `3.0.0-rc`, `3.0.0-beta` and
/// `Versioned` names; current clients prefer `3.6.0`, which includes SemVer 2.0.0 packages); the
/// documents are served uncompressed, which every version allows.
fn service_index(base: &str) -> Value {
    let registration = format!("{base}/{REGISTRATION}/");
    let search = format!("{base}/{SEARCH}");
    let mut resources = vec![json!({
        "@id": format!("{base}/{FLAT_CONTAINER}/"),
        "@type": "PackageBaseAddress/3.0.0",
        "comment": "Package contents and version lists",
    })];
    for kind in [
        "RegistrationsBaseUrl",
        "RegistrationsBaseUrl/3.0.0-rc",
        "RegistrationsBaseUrl/3.0.0-beta",
        "RegistrationsBaseUrl/3.6.0",
        "RegistrationsBaseUrl/Versioned",
    ] {
        resources.push(json!({
            "@id": registration,
            "@type": kind,
            "comment": "Package metadata, with SemVer 2.0.0 packages",
        }));
    }
    for kind in [
        "SearchQueryService",
        "SearchQueryService/3.0.0-rc",
        "SearchQueryService/3.0.0-beta",
        "SearchQueryService/3.5.0",
    ] {
        resources.push(json!({
            "@id": search,
            "@type": kind,
            "comment": "Every package of this feed (a static response)",
        }));
    }
    json!({ "version": "3.0.0", "resources": resources })
}

/// The catalog entry of one package version, inlined in its registration page.
fn catalog_entry(base: &str, p: &FeedPackage) -> Value {
    let id = p.id_lower();
    let groups: Vec<Value> = p
        .nuspec
        .dependency_groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let group_id = format!(
                "{base}/{}#dependencygroup/{}",
                registration_leaf(&id, &p.version_lower()),
                g.target_framework.as_deref().map_or(i.to_string(), str::to_lowercase)
            );
            let dependencies: Vec<Value> = g
                .dependencies
                .iter()
                .map(|d| {
                    json!({
                        "@id": format!("{group_id}/{}", d.id.to_lowercase()),
                        "@type": "PackageDependency",
                        "id": d.id,
                        "range": d.range,
                        "registration": format!("{base}/{}", registration_index(&d.id.to_lowercase())),
                    })
                })
                .collect();
            let mut group = json!({
                "@id": group_id,
                "@type": "PackageDependencyGroup",
                "dependencies": dependencies,
            });
            if let Some(tf) = &g.target_framework {
                group["targetFramework"] = json!(tf);
            }
            group
        })
        .collect();
    let n = &p.nuspec;
    let mut entry = json!({
        "@id": format!("{base}/{}", registration_leaf(&id, &p.version_lower())),
        "@type": "PackageDetails",
        "id": n.id,
        "version": n.version.normalized(),
        "authors": n.authors,
        "description": n.description,
        "title": n.title,
        "summary": n.summary,
        "tags": n.tags,
        "projectUrl": n.project_url,
        "licenseUrl": n.license_url,
        "licenseExpression": n.license_expression,
        "requireLicenseAcceptance": n.require_license_acceptance,
        "listed": true,
        "published": p.published,
        "packageContent": format!("{base}/{}", nupkg(&id, &p.version_lower())),
        "packageHash": p.sha512_base64(),
        "packageHashAlgorithm": "SHA512",
        "packageSize": p.bytes.len(),
        "dependencyGroups": groups,
    });
    if n.dependency_groups.is_empty() {
        entry
            .as_object_mut()
            .expect("an object")
            .remove("dependencyGroups");
    }
    entry
}

/// The registration index of one id: one page holding every version inline.
fn registration(base: &str, id: &str, versions: &[&FeedPackage]) -> Value {
    let index_url = format!("{base}/{}", registration_index(id));
    let items: Vec<Value> = versions
        .iter()
        .map(|p| {
            json!({
                "@id": format!("{base}/{}", registration_leaf(id, &p.version_lower())),
                "@type": "Package",
                "commitTimeStamp": p.published,
                "catalogEntry": catalog_entry(base, p),
                "packageContent": format!("{base}/{}", nupkg(id, &p.version_lower())),
                "registration": index_url,
            })
        })
        .collect();
    let lower = versions.first().map(|p| p.nuspec.version.normalized());
    let upper = versions.last().map(|p| p.nuspec.version.normalized());
    json!({
        "@id": index_url,
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": 1,
        "items": [{
            "@id": format!("{index_url}#page/{}/{}", lower.clone().unwrap_or_default(), upper.clone().unwrap_or_default()),
            "@type": "catalog:CatalogPage",
            "count": items.len(),
            "items": items,
            "lower": lower,
            "upper": upper,
            "parent": index_url,
        }],
    })
}

/// The registration leaf of one version.
fn leaf(base: &str, p: &FeedPackage) -> Value {
    let id = p.id_lower();
    json!({
        "@id": format!("{base}/{}", registration_leaf(&id, &p.version_lower())),
        "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
        "catalogEntry": catalog_entry(base, p),
        "listed": true,
        "packageContent": format!("{base}/{}", nupkg(&id, &p.version_lower())),
        "published": p.published,
        "registration": format!("{base}/{}", registration_index(&id)),
    })
}

/// The search response: every id, its latest version first-class and all versions listed.
fn search(base: &str, by_id: &BTreeMap<String, Vec<&FeedPackage>>) -> Value {
    let data: Vec<Value> = by_id
        .iter()
        .filter_map(|(id, versions)| {
            let latest = versions.last()?;
            let n = &latest.nuspec;
            let index_url = format!("{base}/{}", registration_index(id));
            Some(json!({
                "@id": index_url,
                "@type": "Package",
                "registration": index_url,
                "id": n.id,
                "version": n.version.normalized(),
                "description": n.description,
                "summary": n.summary,
                "title": n.title,
                "authors": [n.authors],
                "tags": n.tags,
                "projectUrl": n.project_url,
                "licenseUrl": n.license_url,
                "totalDownloads": 0,
                "verified": false,
                "packageTypes": [{"name": "Dependency"}],
                "versions": versions.iter().map(|p| json!({
                    "version": p.nuspec.version.normalized(),
                    "downloads": 0,
                    "@id": format!("{base}/{}", registration_leaf(id, &p.version_lower())),
                })).collect::<Vec<_>>(),
            }))
        })
        .collect();
    json!({ "totalHits": data.len(), "data": data })
}
