//! What CloudFormation makes outside the custom resources, made on the emulator from
//! template.yaml's own definitions where that is practical.

use aws_config::SdkConfig;
use serde_json::json;

use super::progress::Progress;
use crate::emulator::Emulator;
use crate::raw_aws;
use crate::template::{Stack, Template};

/// Makes the network bits, the secret, the log group, the file system, the instances' group
/// and the restart queue, and records their `Ref`s and attributes in `stack`.
pub async fn make(
    endpoint: &str,
    config: &SdkConfig,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let vpc = network(&ec2, template, stack, progress).await?;
    security_group(&ec2, &vpc, template, stack, progress).await?;
    plain_http_ingress(config, template, stack, progress).await?;
    elastic_ip(&ec2, template, stack, progress).await?;
    secrets(endpoint, template, stack, progress).await?;
    log_groups(endpoint, template, stack, progress).await?;
    file_system(endpoint, config, template, stack, progress).await?;
    roles_and_functions(template, stack, progress);
    make_group(config, template, stack, progress).await?;
    queues(config, stack, progress).await
}

/// The emulator's default VPC and two of its subnets, as the stack's parameters.
async fn network(
    ec2: &aws_sdk_ec2::Client,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<String, String> {
    let vpcs = ec2
        .describe_vpcs()
        .send()
        .await
        .map_err(|e| format!("DescribeVpcs: {e}"))?;
    let vpc = vpcs
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .ok_or("the emulator has no default VPC")?
        .to_owned();
    let subnets = ec2
        .describe_subnets()
        .send()
        .await
        .map_err(|e| format!("DescribeSubnets: {e}"))?;
    let subnet_ids: Vec<String> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_owned))
        .take(2)
        .collect();
    stack.parameters.insert("VpcId".into(), json!(vpc));
    stack
        .parameters
        .insert("SubnetIds".into(), json!(subnet_ids));
    if template.condition("IsPublic", stack)? {
        stack
            .parameters
            .entry("AllowedCidr".into())
            .or_insert(json!("203.0.113.0/24"));
    }
    progress.event(
        "VPC",
        "USING",
        &format!("{vpc}, subnets {}", subnet_ids.join(", ")),
    );
    Ok(vpc)
}

/// The subnets of the update: the first swapped for a new subnet in its zone, a
/// subnet of a third zone added.
pub async fn subnets_for_update(config: &SdkConfig, stack: &Stack) -> Result<Vec<String>, String> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let current: Vec<String> = stack.parameters["SubnetIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    let described = ec2
        .describe_subnets()
        .send()
        .await
        .map_err(|e| format!("DescribeSubnets: {e}"))?;
    let zone_of = |id: &str| {
        described
            .subnets()
            .iter()
            .find(|s| s.subnet_id() == Some(id))
            .and_then(|s| s.availability_zone())
            .unwrap_or_default()
            .to_owned()
    };
    let first_zone = zone_of(&current[0]);
    let used: Vec<String> = current.iter().map(|id| zone_of(id)).collect();
    let third = described
        .subnets()
        .iter()
        .find(|s| {
            !used
                .iter()
                .any(|zone| Some(zone.as_str()) == s.availability_zone())
        })
        .and_then(|s| s.subnet_id())
        .ok_or("no subnet in a third zone")?
        .to_owned();
    let swapped = ec2
        .create_subnet()
        .vpc_id(stack.parameters["VpcId"].as_str().unwrap_or_default())
        .availability_zone(&first_zone)
        .cidr_block("172.31.200.0/24")
        .send()
        .await
        .map_err(|e| format!("CreateSubnet: {e}"))?
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap_or_default()
        .to_owned();
    let mut subnets = vec![swapped];
    subnets.extend(current.into_iter().skip(1));
    subnets.push(third);
    Ok(subnets)
}

/// The instances' security group, without inbound rules: the template gives it none inline
/// (public mode's rule is `CloudFrontIngress`, made once the edge resource answered).
async fn security_group(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let inline = &template.resource("InstanceSecurityGroup")["Properties"]["SecurityGroupIngress"];
    if !inline.is_null() {
        return Err(format!(
            "InstanceSecurityGroup has inline inbound rules the lifecycle does not make: {inline:?}"
        ));
    }
    let group = ec2
        .create_security_group()
        .group_name(format!("{}-datero-instance", stack.name))
        .description("Datero instance")
        .vpc_id(vpc)
        .send()
        .await
        .map_err(|e| format!("CreateSecurityGroup: {e}"))?;
    let id = group.group_id().unwrap_or_default().to_owned();
    stack
        .attributes
        .insert("InstanceSecurityGroup.GroupId".into(), id.clone());
    record(stack, progress, "InstanceSecurityGroup", &id);
    Ok(())
}

/// The plain-HTTP escape's inbound rule, which needs nothing but the group.
pub async fn plain_http_ingress(
    config: &SdkConfig,
    template: &Template,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    if template.exists("PlainHttpIngress", stack)? {
        ingress(config, template, stack, "PlainHttpIngress", progress).await?;
    }
    Ok(())
}

/// The stack's Elastic IP, in public mode.
async fn elastic_ip(
    ec2: &aws_sdk_ec2::Client,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    if template.exists("Eip", stack)? {
        let address = ec2
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
            .map_err(|e| format!("AllocateAddress: {e}"))?;
        stack.attributes.insert(
            "Eip.AllocationId".into(),
            address.allocation_id().unwrap_or_default().to_owned(),
        );
        record(
            stack,
            progress,
            "Eip",
            address.public_ip().unwrap_or_default(),
        );
    }
    Ok(())
}

/// Every secret of the stack, made here and never printed, as its GenerateSecretString would
/// make it: random letters and digits of `PasswordLength`, put under `GenerateStringKey` of
/// `SecretStringTemplate` when the template gives one.
async fn secrets(
    endpoint: &str,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    for resource in template.resources_of("AWS::SecretsManager::Secret") {
        if !template.exists(&resource, stack)? {
            continue;
        }
        let generate = template
            .resolve(
                &template.resource(&resource)["Properties"]["GenerateSecretString"],
                stack,
            )?
            .unwrap_or_default();
        let length = generate["PasswordLength"]
            .as_u64()
            .or_else(|| generate["PasswordLength"].as_str()?.parse().ok())
            .unwrap_or(32);
        let password = random_alphanumeric(usize::try_from(length).unwrap_or(32));
        let value = match (
            generate["SecretStringTemplate"].as_str(),
            generate["GenerateStringKey"].as_str(),
        ) {
            (Some(shape), Some(key)) => {
                let mut value: serde_json::Value = serde_json::from_str(shape)
                    .map_err(|e| format!("{resource}: SecretStringTemplate: {e}"))?;
                value[key] = json!(password);
                value.to_string()
            }
            _ => password,
        };
        let secret = raw_aws::json_target(
            endpoint,
            "secretsmanager",
            "secretsmanager.CreateSecret",
            &json!({"Name": format!("{}-{resource}", stack.name), "SecretString": value}),
        )
        .await?;
        record(
            stack,
            progress,
            &resource,
            secret["ARN"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}

/// Letters and digits, as GenerateSecretString with ExcludePunctuation makes them.
fn random_alphanumeric(length: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = rand_seed() | 1;
    (0..length)
        .map(|_| {
            // xorshift64: enough for a test bed's throwaway secrets.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[usize::try_from(state % ALPHABET.len() as u64).unwrap_or(0)] as char
        })
        .collect()
}

/// The separate inbound rule `resource` of the template, as it resolves for this stack: from a
/// prefix list or from an address range.
pub async fn ingress(
    config: &SdkConfig,
    template: &Template,
    stack: &Stack,
    resource: &str,
    progress: &Progress,
) -> Result<(), String> {
    let rule = template.properties(resource, stack)?;
    let port = |key: &str| {
        rule[key]
            .as_i64()
            .or_else(|| rule[key].as_str()?.parse().ok())
            .and_then(|p| i32::try_from(p).ok())
    };
    let mut permission = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol(rule["IpProtocol"].as_str().unwrap_or("tcp"))
        .set_from_port(port("FromPort"))
        .set_to_port(port("ToPort"));
    let description = rule["Description"].as_str().unwrap_or_default();
    if let Some(list) = rule["SourcePrefixListId"].as_str() {
        permission = permission.prefix_list_ids(
            aws_sdk_ec2::types::PrefixListId::builder()
                .prefix_list_id(list)
                .description(description)
                .build(),
        );
    }
    if let Some(range) = rule["CidrIp"].as_str() {
        permission = permission.ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip(range)
                .description(description)
                .build(),
        );
    }
    aws_sdk_ec2::Client::new(config)
        .authorize_security_group_ingress()
        .group_id(rule["GroupId"].as_str().unwrap_or_default())
        .ip_permissions(permission.build())
        .send()
        .await
        .map_err(|e| format!("AuthorizeSecurityGroupIngress ({resource}): {e}"))?;
    progress.event(resource, "CREATE_COMPLETE", description);
    Ok(())
}

/// Public mode, once the edge resource answered: the security group's rule for CloudFront's
/// prefix list, made as the template resolves it; then the sign-in function and the
/// distribution, sent as the template resolves them to the emulator's CloudFront, which turns
/// them into CloudFront's API shapes and checks them against CloudFront's API model
/// (`tests/emulator/cloudfront.py`). Their resolved configuration is also what
/// `address::check_public` checks.
pub async fn cloudfront(
    emulator: &Emulator,
    config: &SdkConfig,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    ingress(config, template, stack, "CloudFrontIngress", progress).await?;
    let function = emulator
        .cloudfront(
            "create-function",
            json!({"Properties": template.properties("SignInFunction", stack)?}),
        )
        .await?;
    let arn = function["FunctionARN"].as_str().unwrap_or_default();
    stack
        .attributes
        .insert("SignInFunction.FunctionARN".into(), arn.to_owned());
    progress.event("SignInFunction", "CREATE_COMPLETE", arn);
    let distribution = emulator
        .cloudfront(
            "create-distribution",
            json!({"Properties": template.properties("Distribution", stack)?}),
        )
        .await?;
    let (id, domain) = (
        distribution["Id"].as_str().unwrap_or_default(),
        distribution["DomainName"].as_str().unwrap_or_default(),
    );
    stack
        .attributes
        .insert("Distribution.DomainName".into(), domain.to_owned());
    stack.refs.insert("Distribution".into(), id.to_owned());
    progress.event("Distribution", "CREATE_COMPLETE", domain);
    Ok(())
}

/// What CloudFormation does to delete public mode's CloudFront resources: the distribution is
/// disabled, then deleted (CloudFront refuses to delete an enabled one), then the function it
/// used (refused while a distribution uses it).
pub async fn delete_cloudfront(
    emulator: &Emulator,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    let id = &stack.refs["Distribution"];
    progress.event("Distribution", "DELETE_IN_PROGRESS", "disabled first");
    emulator
        .cloudfront("disable-distribution", json!({"Id": id}))
        .await?;
    emulator
        .cloudfront("delete-distribution", json!({"Id": id}))
        .await?;
    progress.event("Distribution", "DELETE_COMPLETE", id);
    let arn = &stack.attributes["SignInFunction.FunctionARN"];
    let name = arn.rsplit('/').next().unwrap_or_default();
    emulator
        .cloudfront("delete-function", json!({"Name": name}))
        .await?;
    progress.event("SignInFunction", "DELETE_COMPLETE", name);
    Ok(())
}

/// Datero's and every function's log group, named as the template names them.
async fn log_groups(
    endpoint: &str,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    for log_group in template.resources_of("AWS::Logs::LogGroup") {
        let name = template
            .resolve(
                &template.resource(&log_group)["Properties"]["LogGroupName"],
                stack,
            )?
            .unwrap_or_default();
        let name = name.as_str().unwrap_or_default().to_owned();
        raw_aws::json_target(
            endpoint,
            "logs",
            "Logs_20140328.CreateLogGroup",
            &json!({"logGroupName": name}),
        )
        .await?;
        stack.refs.insert(log_group.clone(), name.clone());
        stack.attributes.insert(
            format!("{log_group}.Arn"),
            format!(
                "arn:aws:logs:{}:{}:log-group:{name}",
                stack.region, stack.account
            ),
        );
    }
    progress.event(
        "LogGroups",
        "CREATE_COMPLETE",
        "Datero's and every function's log group",
    );
    Ok(())
}

/// The EFS file system and its security group, when the stack keeps its data there.
async fn file_system(
    endpoint: &str,
    config: &SdkConfig,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    if template.condition("UseEfs", stack)? {
        let created = raw_aws::rest_json(
            endpoint,
            "elasticfilesystem",
            "/2015-02-01/file-systems",
            &json!({"CreationToken": format!("{}-datero", stack.name), "Encrypted": true}),
        )
        .await?;
        record(
            stack,
            progress,
            "FileSystem",
            created["FileSystemId"].as_str().unwrap_or_default(),
        );
        let file_system = stack.refs["FileSystem"].clone();
        stack.attributes.insert(
            "FileSystem.Arn".into(),
            format!(
                "arn:aws:elasticfilesystem:{}:{}:file-system/{file_system}",
                stack.region, stack.account
            ),
        );
        // Its security group; the mount targets are the MountTargets custom resource, played
        // by the cluster function like the others.
        let vpc = stack.parameters["VpcId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let group = aws_sdk_ec2::Client::new(config)
            .create_security_group()
            .group_name(format!("{}-datero-efs", stack.name))
            .description("Datero EFS")
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| format!("CreateSecurityGroup: {e}"))?;
        let group = group.group_id().unwrap_or_default().to_owned();
        stack
            .attributes
            .insert("EfsSecurityGroup.GroupId".into(), group.clone());
        record(stack, progress, "EfsSecurityGroup", &group);
    }
    stack.refs.insert("StorageReady".into(), "ready".into());
    Ok(())
}

/// The roles' and functions' ARNs: each function runs here as a local process, signing as its
/// role, which the emulator enforces when the function starts (crate::iam).
fn roles_and_functions(template: &Template, stack: &mut Stack, progress: &Progress) {
    // Roles: their ARNs here; each function's role is enforced by the emulator when the
    // function starts (crate::iam).
    for role in template.resources_of("AWS::IAM::Role") {
        stack.attributes.insert(
            format!("{role}.Arn"),
            format!("arn:aws:iam::{}:role/{}-{role}", stack.account, stack.name),
        );
    }
    progress.event(
        "IAM roles",
        "CREATE_COMPLETE",
        "each function signs as its own role; the emulator authorizes every call as AWS would",
    );
    // The functions run here as local processes behind local Runtime APIs.
    for function in template.resources_of("AWS::Serverless::Function") {
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{}-{function}",
            stack.region, stack.account, stack.name
        );
        stack
            .attributes
            .insert(format!("{function}.Arn"), arn.clone());
        stack.refs.insert(function, arn);
    }
}

/// The restart queue and the failure queue.
async fn queues(config: &SdkConfig, stack: &mut Stack, progress: &Progress) -> Result<(), String> {
    for (resource, suffix) in [
        ("RestartQueue", "restarts"),
        ("RestartDeadLetterQueue", "failures"),
    ] {
        let name = format!("{}-{suffix}", stack.name);
        let queue = aws_sdk_sqs::Client::new(config)
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| format!("CreateQueue: {e}"))?;
        record(
            stack,
            progress,
            resource,
            queue.queue_url().unwrap_or_default(),
        );
        stack.attributes.insert(
            format!("{resource}.Arn"),
            format!("arn:aws:sqs:{}:{}:{name}", stack.region, stack.account),
        );
    }
    Ok(())
}

/// The Auto Scaling group as the template defines it (name, size, scale-in protection), on a
/// launch configuration since the emulator's instances need no real image.
#[expect(
    clippy::too_many_lines,
    reason = "the group and its launch settings as the template defines them, one call each"
)]
async fn make_group(
    config: &SdkConfig,
    template: &Template,
    stack: &mut Stack,
    progress: &Progress,
) -> Result<(), String> {
    let definition = &template.resource("Instances")["Properties"];
    let text = |key: &str| -> Result<String, String> {
        Ok(template
            .resolve(&definition[key], stack)?
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default())
    };
    let name = text("AutoScalingGroupName")?;
    let min: i32 = text("MinSize")?.parse().unwrap_or(0);
    let max: i32 = text("MaxSize")?.parse().unwrap_or(1);
    let protected = text("NewInstancesProtectedFromScaleIn")? == "true";
    let instance_type = template
        .parameter("InstanceType", stack)?
        .as_str()
        .unwrap_or("t3.small")
        .to_owned();
    let template_id = launch_template_version(config, None, &instance_type).await?;
    stack
        .refs
        .insert("LaunchTemplate".into(), template_id.clone());
    stack
        .attributes
        .insert("LaunchTemplate.LatestVersionNumber".into(), "1".into());
    let subnets = template
        .resolve(&definition["VPCZoneIdentifier"], stack)?
        .and_then(|v| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
        })
        .unwrap_or_default();
    aws_sdk_autoscaling::Client::new(config)
        .create_auto_scaling_group()
        .auto_scaling_group_name(&name)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&template_id)
                .version("1")
                .build(),
        )
        .min_size(min)
        .max_size(max)
        .desired_capacity(0)
        .new_instances_protected_from_scale_in(protected)
        .vpc_zone_identifier(&subnets)
        .send()
        .await
        .map_err(|e| format!("CreateAutoScalingGroup: {e}"))?;
    progress.event(
        "Instances",
        "CREATE_COMPLETE",
        &format!(
            "{name} ({instance_type}, {min}..{max}, scale-in protected: {protected}, subnets {subnets})"
        ),
    );
    stack.refs.insert("Instances".into(), name);
    Ok(())
}

/// The launch template (made when `template_id` is None) with a new version launching
/// `instance_type`: what CloudFormation does for `LaunchTemplate`. Returns the template's id.
pub async fn launch_template_version(
    config: &SdkConfig,
    template_id: Option<&str>,
    instance_type: &str,
) -> Result<String, String> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::from(instance_type))
        .build();
    match template_id {
        None => ec2
            .create_launch_template()
            .launch_template_name(format!("lt-{}", rand_seed()))
            .launch_template_data(data)
            .send()
            .await
            .map_err(|e| format!("CreateLaunchTemplate: {e}"))?
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .map(str::to_owned)
            .ok_or_else(|| "CreateLaunchTemplate answered no id".to_owned()),
        Some(id) => {
            ec2.create_launch_template_version()
                .launch_template_id(id)
                .launch_template_data(data)
                .send()
                .await
                .map_err(|e| format!("CreateLaunchTemplateVersion: {e}"))?;
            Ok(id.to_owned())
        }
    }
}

fn record(stack: &mut Stack, progress: &Progress, resource: &str, value: &str) {
    let shown = if resource.ends_with("Secret") {
        "secret made (value not shown)".to_owned()
    } else {
        value.to_owned()
    };
    progress.event(resource, "CREATE_COMPLETE", &shown);
    stack.refs.insert(resource.to_owned(), value.to_owned());
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}
