//! The answers of the EC2 Query API that the functions read, as plain data. EC2 answers XML
//! whose root is `<ActionResponse>`, members directly below it and lists as `xxxSet/item`
//! (the element names are those of the SDK's deserializers, aws-sdk-ec2 `protocol_serde`).
//! Only direct children are read at each level: a network interface inside an instance has
//! its own `subnetId` and addresses, which are not the instance's.

use aws_smithy_xml::decode::{Document, ScopedDecoder, XmlDecodeError, try_data};

/// An Elastic IP as DescribeAddresses describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub allocation_id: Option<String>,
    pub public_ip: Option<String>,
    /// The instance it is associated with, if any.
    pub instance_id: Option<String>,
}

/// An instance as DescribeInstances describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub instance_id: Option<String>,
    pub subnet_id: Option<String>,
    /// `ipAddress`: the public IPv4 address, absent without one.
    pub public_ip: Option<String>,
    /// `dnsName`: the public DNS name, empty without one.
    pub public_dns: Option<String>,
}

/// One page of a paginated answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// The code and message of an error answer,
/// `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`
/// ("Error codes for the Amazon EC2 API",
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// The root of `xml`, checked to be `<{action}Response>`.
fn root<'inp, 'a>(
    document: &'a mut Document<'inp>,
    action: &str,
) -> Result<ScopedDecoder<'inp, 'a>, XmlDecodeError> {
    let root = document.root_element()?;
    let expected = format!("{action}Response");
    if root.start_el().matches(&expected) {
        Ok(root)
    } else {
        Err(XmlDecodeError::custom(format!(
            "expected <{expected}>, found <{}>",
            root.start_el().local()
        )))
    }
}

fn text(tag: &mut ScopedDecoder<'_, '_>) -> Result<Option<String>, XmlDecodeError> {
    Ok(Some(try_data(tag)?.into_owned()))
}

/// DescribeAddresses: `addressesSet/item`.
pub fn addresses(xml: &str) -> Result<Vec<Address>, XmlDecodeError> {
    let mut document = Document::new(xml);
    let mut root = root(&mut document, "DescribeAddresses")?;
    let mut found = Vec::new();
    while let Some(mut set) = root.next_tag() {
        if !set.start_el().matches("addressesSet") {
            continue;
        }
        while let Some(mut item) = set.next_tag() {
            let mut address = Address::default();
            while let Some(mut field) = item.next_tag() {
                match field.start_el().local() {
                    "allocationId" => address.allocation_id = text(&mut field)?,
                    "publicIp" => address.public_ip = text(&mut field)?,
                    "instanceId" => address.instance_id = text(&mut field)?,
                    _ => {}
                }
            }
            found.push(address);
        }
    }
    Ok(found)
}

/// DescribeInstances: `reservationSet/item/instancesSet/item`, and `nextToken`.
pub fn instances(xml: &str) -> Result<Page<Instance>, XmlDecodeError> {
    let mut document = Document::new(xml);
    let mut root = root(&mut document, "DescribeInstances")?;
    let mut page = Page::default();
    while let Some(mut tag) = root.next_tag() {
        match tag.start_el().local() {
            "nextToken" => page.next_token = text(&mut tag)?,
            "reservationSet" => {
                while let Some(mut reservation) = tag.next_tag() {
                    while let Some(mut set) = reservation.next_tag() {
                        if set.start_el().matches("instancesSet") {
                            while let Some(mut item) = set.next_tag() {
                                page.items.push(instance(&mut item)?);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(page)
}

fn instance(item: &mut ScopedDecoder<'_, '_>) -> Result<Instance, XmlDecodeError> {
    let mut instance = Instance::default();
    while let Some(mut field) = item.next_tag() {
        match field.start_el().local() {
            "instanceId" => instance.instance_id = text(&mut field)?,
            "subnetId" => instance.subnet_id = text(&mut field)?,
            "ipAddress" => instance.public_ip = text(&mut field)?,
            "dnsName" => instance.public_dns = text(&mut field)?,
            _ => {}
        }
    }
    Ok(instance)
}

/// DescribeManagedPrefixLists: each `prefixListSet/item/prefixListId`, and `nextToken`.
pub fn prefix_list_ids(xml: &str) -> Result<Page<String>, XmlDecodeError> {
    let mut document = Document::new(xml);
    let mut root = root(&mut document, "DescribeManagedPrefixLists")?;
    let mut page = Page::default();
    while let Some(mut tag) = root.next_tag() {
        match tag.start_el().local() {
            "nextToken" => page.next_token = text(&mut tag)?,
            "prefixListSet" => {
                while let Some(mut item) = tag.next_tag() {
                    while let Some(mut field) = item.next_tag() {
                        if field.start_el().matches("prefixListId")
                            && let Some(id) = text(&mut field)?
                        {
                            page.items.push(id);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(page)
}

/// DescribeVpcAttribute: `{attribute}/value`, `None` when the answer does not carry it.
pub fn vpc_attribute(xml: &str, attribute: &str) -> Result<Option<bool>, XmlDecodeError> {
    let mut document = Document::new(xml);
    let mut root = root(&mut document, "DescribeVpcAttribute")?;
    let mut value = None;
    while let Some(mut tag) = root.next_tag() {
        if !tag.start_el().matches(attribute) {
            continue;
        }
        while let Some(mut field) = tag.next_tag() {
            if field.start_el().matches("value") {
                value = match try_data(&mut field)?.as_ref() {
                    "true" => Some(true),
                    "false" => Some(false),
                    other => {
                        return Err(XmlDecodeError::custom(format!(
                            "{attribute}: expected true or false, found {other:?}"
                        )));
                    }
                };
            }
        }
    }
    Ok(value)
}

/// An error answer's code and message; empty when the body is not one.
pub fn error_body(xml: &str) -> ErrorBody {
    let mut body = ErrorBody::default();
    let mut document = Document::new(xml);
    let Ok(mut root) = document.root_element() else {
        return body;
    };
    while let Some(mut errors) = root.next_tag() {
        if !errors.start_el().matches("Errors") {
            continue;
        }
        while let Some(mut error) = errors.next_tag() {
            while let Some(mut field) = error.next_tag() {
                match field.start_el().local() {
                    "Code" => body.code = text(&mut field).ok().flatten(),
                    "Message" => body.message = text(&mut field).ok().flatten(),
                    _ => {}
                }
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_and_its_instance() {
        let found = addresses(include_str!("fixtures/describe_addresses.xml")).unwrap();
        assert_eq!(
            found,
            [Address {
                allocation_id: Some("eipalloc-0a1b2c3d4e5f67890".into()),
                public_ip: Some("198.51.100.23".into()),
                instance_id: Some("i-0123456789abcdef0".into()),
            }]
        );
        // An address on no instance has no instanceId at all.
        let none = addresses(include_str!("fixtures/describe_addresses_unassociated.xml")).unwrap();
        assert_eq!(none[0].instance_id, None);
    }

    #[test]
    fn an_instances_fields_are_its_own_not_its_network_interfaces() {
        let page = instances(include_str!("fixtures/describe_instances.xml")).unwrap();
        assert_eq!(
            page.items,
            [
                Instance {
                    instance_id: Some("i-0123456789abcdef0".into()),
                    subnet_id: Some("subnet-0aaa".into()),
                    public_ip: Some("203.0.113.10".into()),
                    public_dns: Some("ec2-203-0-113-10.eu-west-1.compute.amazonaws.com".into()),
                },
                Instance {
                    instance_id: Some("i-0fedcba9876543210".into()),
                    subnet_id: Some("subnet-0bbb".into()),
                    public_ip: None,
                    public_dns: Some(String::new()),
                },
            ]
        );
        assert_eq!(page.next_token.as_deref(), Some("page-2"));
    }

    #[test]
    fn prefix_lists_and_vpc_attributes() {
        let page =
            prefix_list_ids(include_str!("fixtures/describe_managed_prefix_lists.xml")).unwrap();
        assert_eq!(page.items, ["pl-4fa04526"]);
        assert_eq!(page.next_token, None);
        let xml = include_str!("fixtures/describe_vpc_attribute.xml");
        assert_eq!(vpc_attribute(xml, "enableDnsSupport").unwrap(), Some(true));
        assert_eq!(vpc_attribute(xml, "enableDnsHostnames").unwrap(), None);
    }

    #[test]
    fn another_actions_answer_is_refused() {
        let error = instances(include_str!("fixtures/describe_addresses.xml")).unwrap_err();
        assert!(
            error.to_string().contains("DescribeInstancesResponse"),
            "{error}"
        );
    }

    #[test]
    fn error_answers_give_their_code_and_message() {
        assert_eq!(
            error_body(include_str!("fixtures/error.xml")),
            ErrorBody {
                code: Some("InvalidInstanceID.NotFound".into()),
                message: Some("The instance ID 'i-0000' does not exist".into()),
            }
        );
        assert_eq!(error_body("<html>Bad gateway</html>"), ErrorBody::default());
        assert_eq!(error_body(""), ErrorBody::default());
    }
}
