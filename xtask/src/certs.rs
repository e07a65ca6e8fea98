//! The PKI of a test cluster, generated with rcgen into the state dir: one
//! CA; serving certificates for etcd and kube-apiserver; client
//! certificates for kube-apiserver→etcd, the admin (`system:masters`), the
//! controller manager and the scheduler; and the service-account signing key.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Paths of the generated files (all PEM).
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// `<name>.crt` of a leaf certificate.
    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.crt"))
    }
    /// `<name>.key` of a leaf certificate.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
    /// Private key that signs service-account tokens (PKCS#8, ECDSA P-256).
    pub fn sa_key(&self) -> PathBuf {
        self.dir.join("sa.key")
    }
    /// Public key that verifies service-account tokens.
    pub fn sa_pub(&self) -> PathBuf {
        self.dir.join("sa.pub")
    }
}

/// Who a leaf certificate is for.
struct Leaf<'a> {
    file: &'a str,
    common_name: &'a str,
    organization: Option<&'a str>,
    sans: &'a [&'a str],
    server: bool,
    client: bool,
}

/// Names under which kube-apiserver is reached, from the host and from pods.
const APISERVER_SANS: &[&str] = &[
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    // First address of the service CIDR: the `kubernetes` Service.
    "10.96.0.1",
];

/// Generates the whole PKI into `dir`.
pub fn generate(dir: &Path) -> Result<Pki> {
    fs::create_dir_all(dir)?;
    let pki = Pki {
        dir: dir.to_path_buf(),
    };

    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "weir-testenv-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    write_private(&pki.ca_key(), &ca_key.serialize_pem())?;
    fs::write(pki.ca_cert(), ca_cert.pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let leaves = [
        Leaf {
            file: "etcd",
            common_name: "etcd",
            organization: None,
            sans: &["127.0.0.1", "localhost"],
            server: true,
            client: true,
        },
        Leaf {
            file: "apiserver",
            common_name: "kube-apiserver",
            organization: None,
            sans: APISERVER_SANS,
            server: true,
            client: false,
        },
        Leaf {
            file: "apiserver-etcd-client",
            common_name: "kube-apiserver-etcd-client",
            organization: None,
            sans: &[],
            server: false,
            client: true,
        },
        Leaf {
            file: "admin",
            common_name: "weir-testenv-admin",
            organization: Some("system:masters"),
            sans: &[],
            server: false,
            client: true,
        },
        Leaf {
            // The user RBAC's bootstrap policy binds the controller manager's role to.
            file: "controller-manager",
            common_name: "system:kube-controller-manager",
            organization: None,
            sans: &[],
            server: false,
            client: true,
        },
        Leaf {
            file: "scheduler",
            common_name: "system:kube-scheduler",
            organization: None,
            sans: &[],
            server: false,
            client: true,
        },
    ];
    for leaf in leaves {
        let key = KeyPair::generate()?;
        let sans: Vec<String> = leaf.sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, leaf.common_name);
        if let Some(org) = leaf.organization {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        if leaf.server {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if leaf.client {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &issuer)
            .with_context(|| format!("signing the {} certificate", leaf.file))?;
        fs::write(pki.cert(leaf.file), cert.pem())?;
        write_private(&pki.key(leaf.file), &key.serialize_pem())?;
    }

    let sa = KeyPair::generate().context("generating the service-account key")?;
    write_private(&pki.sa_key(), &sa.serialize_pem())?;
    fs::write(pki.sa_pub(), sa.public_key_pem())?;
    Ok(pki)
}

/// Writes a private key readable by the owner only.
fn write_private(path: &Path, pem: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}
