//! Package URLs (purl) of the Linux packages, as customers' scanners name an installed package:
//! `pkg:deb/<vendor>/<name>@<version>?arch=amd64&distro=<id>-<release>` and the same for `rpm`.

use super::{deb, rpm};

/// The distributions the `.deb` packages install on, as the purl namespace (the vendor) and the
/// `distro` qualifier scanners such as syft write (`/etc/os-release` ID and VERSION_ID). They are
/// the releases whose libicu is among the alternatives of `dotnet-runtime-deps-6.0`.
pub const DEB_DISTRIBUTIONS: &[(&str, &str)] = &[
    ("debian", "debian-10"),
    ("debian", "debian-11"),
    ("debian", "debian-12"),
    ("ubuntu", "ubuntu-20.04"),
    ("ubuntu", "ubuntu-22.04"),
    ("ubuntu", "ubuntu-24.04"),
];

/// The distributions the `.rpm` packages install on (their dependencies use Red Hat's package
/// names: `openssl-libs`, `krb5-libs`), namespace and `distro` qualifier as for
/// [`DEB_DISTRIBUTIONS`].
pub const RPM_DISTRIBUTIONS: &[(&str, &str)] = &[("redhat", "rhel-8"), ("redhat", "rhel-9")];

/// The packages that carry the files of a product of the OpenVEX document (`dotnet-runtime`,
/// `dotnet-aspnetcore`, or `dotnet` for the whole release); none for products the Linux packages
/// do not hold (the SDK, the Windows desktop runtime). `dotnet-runtime-deps-6.0` holds no files
/// and so no fix.
pub fn packages_of(product: &str) -> &'static [&'static str] {
    match product {
        "dotnet-runtime" => &["dotnet-host", "dotnet-hostfxr-6.0", "dotnet-runtime-6.0"],
        "dotnet-aspnetcore" => &["aspnetcore-runtime-6.0"],
        "dotnet" => &[
            "dotnet-host",
            "dotnet-hostfxr-6.0",
            "dotnet-runtime-6.0",
            "aspnetcore-runtime-6.0",
        ],
        _ => &[],
    }
}

/// Every purl of `package` at `version` (`6.0.37`) and package `revision` (`1.els`): one per
/// distribution of each format.
pub fn purls(package: &str, version: &str, revision: &str) -> Vec<String> {
    let full = format!("{version}-{revision}");
    let deb = DEB_DISTRIBUTIONS.iter().map(|(vendor, distro)| {
        format!(
            "pkg:deb/{vendor}/{package}@{full}?arch={}&distro={distro}",
            deb::ARCH
        )
    });
    let rpm = RPM_DISTRIBUTIONS.iter().map(|(vendor, distro)| {
        format!(
            "pkg:rpm/{vendor}/{package}@{full}?arch={}&distro={distro}",
            rpm::ARCH
        )
    });
    deb.chain(rpm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deb_distribution_has_its_libicu_among_the_dependencies() {
        let libicu = deb::SYSTEM_DEPENDENCIES
            .iter()
            .find(|d| d.starts_with("libicu"))
            .unwrap();
        for (distro, icu) in [
            ("debian-10", "libicu63"),
            ("debian-11", "libicu67"),
            ("debian-12", "libicu72"),
            ("ubuntu-20.04", "libicu66"),
            ("ubuntu-22.04", "libicu70"),
            ("ubuntu-24.04", "libicu74"),
        ] {
            assert!(DEB_DISTRIBUTIONS.iter().any(|(_, d)| *d == distro));
            assert!(libicu.split(" | ").any(|a| a == icu), "{icu} for {distro}");
        }
    }

    #[test]
    fn purls_name_vendor_arch_and_distro() {
        let all = purls("dotnet-runtime-6.0", "6.0.37", "1.els");
        assert_eq!(all.len(), DEB_DISTRIBUTIONS.len() + RPM_DISTRIBUTIONS.len());
        assert!(all.contains(
            &"pkg:deb/debian/dotnet-runtime-6.0@6.0.37-1.els?arch=amd64&distro=debian-12".into()
        ));
        assert!(all.contains(
            &"pkg:rpm/redhat/dotnet-runtime-6.0@6.0.37-1.els?arch=x86_64&distro=rhel-9".into()
        ));
        assert!(packages_of("dotnet-sdk").is_empty());
    }
}
