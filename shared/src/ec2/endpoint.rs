//! EC2's regional endpoint: `https://ec2.{region}.{dnsSuffix}`, the suffix being the
//! partition's (the SDK's endpoint rules and partition table, aws-sdk-ec2 `config/endpoint.rs`
//! and `endpoint_lib.rs`; "Amazon EC2 endpoints",
//! <https://docs.aws.amazon.com/general/latest/gr/ec2-service.html>).

/// The endpoint of EC2 in `region`.
pub fn regional(region: &str) -> String {
    format!("https://ec2.{region}.{}", dns_suffix(region))
}

/// The DNS suffix of the partition `region` belongs to; a Region of no known partition is
/// taken to be in `aws`, as the SDK does.
fn dns_suffix(region: &str) -> &'static str {
    // Longest prefixes first: us-isob- and us-isof- also start with us-iso.
    const PARTITIONS: &[(&str, &str)] = &[
        ("cn-", "amazonaws.com.cn"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("us-isof-", "csp.hci.ic.gov"),
        ("us-iso-", "c2s.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
        ("eusc-", "amazonaws.eu"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("amazonaws.com", |(_, suffix)| suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_has_its_suffix() {
        assert_eq!(regional("eu-west-1"), "https://ec2.eu-west-1.amazonaws.com");
        assert_eq!(
            regional("us-gov-west-1"),
            "https://ec2.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            regional("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            regional("us-iso-east-1"),
            "https://ec2.us-iso-east-1.c2s.ic.gov"
        );
        assert_eq!(
            regional("us-isob-east-1"),
            "https://ec2.us-isob-east-1.sc2s.sgov.gov"
        );
        assert_eq!(
            regional("us-isof-south-1"),
            "https://ec2.us-isof-south-1.csp.hci.ic.gov"
        );
        assert_eq!(
            regional("eu-isoe-west-1"),
            "https://ec2.eu-isoe-west-1.cloud.adc-e.uk"
        );
        assert_eq!(
            regional("eusc-de-east-1"),
            "https://ec2.eusc-de-east-1.amazonaws.eu"
        );
    }
}
