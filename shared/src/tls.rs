//! The root certificates every HTTPS client of the functions trusts: Mozilla's, compiled into
//! the binary (`webpki-root-certs`), for the AWS SDK and for the ResponseURL client alike. They
//! include the Amazon Trust Services roots that AWS's endpoints and CloudFormation's presigned
//! S3 URLs chain to ("Amazon Trust Services" repository, amazontrust.com), so no platform store
//! is read at start-up.

/// Each root as DER.
pub fn roots_der() -> impl Iterator<Item = &'static [u8]> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| der.as_ref())
}

/// A reqwest client builder that trusts exactly these roots (the ResponseURL client, EC2's).
pub fn reqwest_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_certs_only(reqwest_roots())
}

fn reqwest_roots() -> impl Iterator<Item = reqwest::Certificate> {
    // The set is fixed at build time and each entry is a valid DER certificate; none is skipped.
    roots_der().filter_map(|der| reqwest::Certificate::from_der(der).ok())
}

/// Each root as one PEM block (what the SDK's trust store takes).
pub fn roots_pem() -> impl Iterator<Item = Vec<u8>> {
    roots_der().map(|der| {
        let body = aws_smithy_types::base64::encode(der);
        let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem.into_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mentions(der: &[u8], name: &[u8]) -> bool {
        der.windows(name.len()).any(|window| window == name)
    }

    #[test]
    fn every_compiled_root_is_trusted() {
        assert_eq!(
            reqwest_roots().count(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
    }

    #[test]
    fn amazons_root_is_among_them() {
        // AWS's endpoints and S3's certificates chain to Amazon Root CA 1.
        let amazon = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|der| mentions(der, b"Amazon Root CA 1"))
            .count();
        assert_eq!(amazon, 1);
    }

    #[test]
    fn every_root_becomes_one_pem_block_that_reads_back_as_the_same_der() {
        use std::io::Read as _;
        let pems: Vec<Vec<u8>> = roots_pem().collect();
        assert!(pems.len() > 100, "{}", pems.len());
        for (pem, der) in pems.iter().zip(roots_der()) {
            let text = std::str::from_utf8(pem).unwrap();
            assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
            assert!(text.lines().all(|line| line.len() <= 64));
            let body: String = text
                .lines()
                .filter(|line| !line.starts_with("-----"))
                .collect();
            let mut decoded = Vec::new();
            aws_smithy_types::base64::decode(&body)
                .unwrap()
                .as_slice()
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, der);
        }
    }
}
