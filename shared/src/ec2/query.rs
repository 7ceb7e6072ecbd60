//! The bodies of the EC2 Query requests the functions send: `Action`, `Version` and the
//! operation's parameters, form-encoded as the SDK's serializers write them (aws-smithy-query's
//! `QueryWriter`; lists flattened as `Name.N`, "Query key resolution" in Smithy's ec2Query
//! protocol, <https://smithy.io/2.0/aws/protocols/aws-ec2-query-protocol.html>).

use aws_smithy_query::QueryWriter;

/// The EC2 API version every request names ("Making requests: Query requests",
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html>).
pub const API_VERSION: &str = "2016-11-15";

/// One filter, `Filter.1.Name` with its values `Filter.1.Value.N`, from `next_token` when given.
fn filtered(action: &str, name: &str, values: &[&str], next_token: Option<&str>) -> String {
    let mut body = String::new();
    let mut writer = QueryWriter::new(&mut body, action, API_VERSION);
    let mut filters = writer.prefix("Filter").start_list(true, None);
    let mut filter = filters.entry();
    filter.prefix("Name").string(name);
    let mut list = filter.prefix("Value").start_list(true, None);
    for value in values {
        list.entry().string(value);
    }
    list.finish();
    filters.finish();
    if let Some(token) = next_token {
        writer.prefix("NextToken").string(token);
    }
    writer.finish();
    body
}

/// DescribeAddresses of one allocation id (filter `allocation-id`).
pub fn describe_address(allocation_id: &str) -> String {
    // DescribeAddresses is not paginated (no NextToken in its input).
    filtered("DescribeAddresses", "allocation-id", &[allocation_id], None)
}

/// AssociateAddress of `allocation_id` with `instance_id`, taking it from any other instance.
pub fn associate_address(allocation_id: &str, instance_id: &str) -> String {
    let mut body = String::new();
    let mut writer = QueryWriter::new(&mut body, "AssociateAddress", API_VERSION);
    writer.prefix("AllocationId").string(allocation_id);
    writer.prefix("InstanceId").string(instance_id);
    writer.prefix("AllowReassociation").boolean(true);
    writer.finish();
    body
}

/// DescribeInstances of `instance_ids` (`InstanceId.N`), from `next_token` when given.
pub fn describe_instances(instance_ids: &[String], next_token: Option<&str>) -> String {
    let mut body = String::new();
    let mut writer = QueryWriter::new(&mut body, "DescribeInstances", API_VERSION);
    let mut ids = writer.prefix("InstanceId").start_list(true, None);
    for id in instance_ids {
        ids.entry().string(id);
    }
    ids.finish();
    if let Some(token) = next_token {
        writer.prefix("NextToken").string(token);
    }
    writer.finish();
    body
}

/// DescribeManagedPrefixLists of the list named `name` (filter `prefix-list-name`), from
/// `next_token` when given.
pub fn describe_prefix_list(name: &str, next_token: Option<&str>) -> String {
    filtered(
        "DescribeManagedPrefixLists",
        "prefix-list-name",
        &[name],
        next_token,
    )
}

/// DescribeVpcAttribute of one `attribute` of `vpc_id` (one attribute per call).
pub fn describe_vpc_attribute(vpc_id: &str, attribute: &str) -> String {
    let mut body = String::new();
    let mut writer = QueryWriter::new(&mut body, "DescribeVpcAttribute", API_VERSION);
    writer.prefix("VpcId").string(vpc_id);
    writer.prefix("Attribute").string(attribute);
    writer.finish();
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_the_sdks_query_strings() {
        assert_eq!(
            describe_address("eipalloc-0abc"),
            "Action=DescribeAddresses&Version=2016-11-15&Filter.1.Name=allocation-id&Filter.1.Value.1=eipalloc-0abc"
        );
        assert_eq!(
            associate_address("eipalloc-0abc", "i-0123"),
            "Action=AssociateAddress&Version=2016-11-15&AllocationId=eipalloc-0abc&InstanceId=i-0123&AllowReassociation=true"
        );
        assert_eq!(
            describe_instances(&["i-1".to_owned(), "i-2".to_owned()], Some("t/1+")),
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2&NextToken=t%2F1%2B"
        );
        assert_eq!(
            describe_prefix_list("com.amazonaws.global.cloudfront.origin-facing", None),
            "Action=DescribeManagedPrefixLists&Version=2016-11-15&Filter.1.Name=prefix-list-name&Filter.1.Value.1=com.amazonaws.global.cloudfront.origin-facing"
        );
        assert_eq!(
            describe_prefix_list("n", Some("t")),
            "Action=DescribeManagedPrefixLists&Version=2016-11-15&Filter.1.Name=prefix-list-name&Filter.1.Value.1=n&NextToken=t"
        );
        assert_eq!(
            describe_vpc_attribute("vpc-1", "enableDnsSupport"),
            "Action=DescribeVpcAttribute&Version=2016-11-15&VpcId=vpc-1&Attribute=enableDnsSupport"
        );
    }
}
