//! Where Datero answers, through the stack's life: the Elastic IP follows the instance by an
//! event (public mode), or the UI is reached through Session Manager (private mode).

use aws_config::SdkConfig;
use aws_sdk_ecs::types::ContainerInstance;

use super::cloudformation::Function;
use super::progress::Progress;
use super::{cluster_name, running_task, stopped_event, url_host};
use crate::events;
use crate::seed;
use crate::template::{Stack, Template};
use datero_shared::edge;
use serde_json::json;

/// The container instance registered for the EC2 instance `instance_id`, as ECS has it now.
async fn container_instance(
    config: &SdkConfig,
    stack: &Stack,
    instance_id: &str,
) -> Result<aws_sdk_ecs::types::ContainerInstance, String> {
    let ecs = aws_sdk_ecs::Client::new(config);
    let cluster = cluster_name(stack);
    let arns = ecs
        .list_container_instances()
        .cluster(&cluster)
        .send()
        .await
        .map_err(|e| format!("ListContainerInstances: {e}"))?
        .container_instance_arns()
        .to_vec();
    if arns.is_empty() {
        return Err(format!("no container instance for {instance_id}"));
    }
    let described = ecs
        .describe_container_instances()
        .cluster(&cluster)
        .set_container_instances(Some(arns))
        .send()
        .await
        .map_err(|e| format!("DescribeContainerInstances: {e}"))?;
    described
        .container_instances()
        .iter()
        .find(|ci| ci.ec2_instance_id() == Some(instance_id))
        .cloned()
        .ok_or_else(|| format!("no container instance for {instance_id}"))
}

/// Plays EventBridge: the ACTIVE event of the instance that just joined the cluster, to the
/// elastic-ip function (public mode).
pub async fn instance_joined(
    config: &SdkConfig,
    stack: &Stack,
    elastic_ip: &Function,
    instance_id: &str,
    progress: &Progress,
) -> Result<(), String> {
    let instance = container_instance(config, stack, instance_id).await?;
    let cluster_arn = stack.attributes["Cluster.ClusterArn"].clone();
    let event = events::container_instance_state_change(
        &instance,
        &cluster_arn,
        &format!("joined-{instance_id}"),
    );
    elastic_ip
        .invoke_ok(event, "the elastic-ip function")
        .await?;
    progress.event(
        "ElasticIpFunction",
        "INVOKED",
        &format!("ECS Container Instance State Change ACTIVE for {instance_id}"),
    );
    Ok(())
}

/// The instance holding the stack's Elastic IP, and the address.
pub async fn address_holder(config: &SdkConfig, stack: &Stack) -> Result<(String, String), String> {
    let allocation = &stack.attributes["Eip.AllocationId"];
    let addresses = aws_sdk_ec2::Client::new(config)
        .describe_addresses()
        .allocation_ids(allocation)
        .send()
        .await
        .map_err(|e| format!("DescribeAddresses: {e}"))?;
    let address = addresses
        .addresses()
        .first()
        .ok_or("the Elastic IP is gone")?;
    Ok((
        address.instance_id().unwrap_or_default().to_owned(),
        address.public_ip().unwrap_or_default().to_owned(),
    ))
}

/// The EC2 instance that runs the task `task_arn`.
pub async fn instance_of_task(
    config: &SdkConfig,
    stack: &Stack,
    task_arn: &str,
) -> Result<String, String> {
    let task = described_task(config, stack, task_arn).await?;
    let container_instance = task
        .container_instance_arn()
        .ok_or("the task has no container instance")?;
    let described = aws_sdk_ecs::Client::new(config)
        .describe_container_instances()
        .cluster(cluster_name(stack))
        .container_instances(container_instance)
        .send()
        .await
        .map_err(|e| format!("DescribeContainerInstances: {e}"))?;
    described
        .container_instances()
        .first()
        .and_then(|ci| ci.ec2_instance_id())
        .map(str::to_owned)
        .ok_or_else(|| "the task's container instance is unknown".to_owned())
}

async fn described_task(
    config: &SdkConfig,
    stack: &Stack,
    task_arn: &str,
) -> Result<aws_sdk_ecs::types::Task, String> {
    aws_sdk_ecs::Client::new(config)
        .describe_tasks()
        .cluster(cluster_name(stack))
        .tasks(task_arn)
        .send()
        .await
        .map_err(|e| format!("DescribeTasks: {e}"))?
        .tasks()
        .first()
        .cloned()
        .ok_or_else(|| format!("{task_arn} is unknown"))
}

/// Public mode, either way: through CloudFront ([`check_cloudfront`]) or the plain-HTTP escape
/// ([`check_plain_http`]). Returns DateroUrl.
pub async fn check_public(
    template: &Template,
    config: &SdkConfig,
    stack: &Stack,
    task: &str,
    progress: &Progress,
) -> Result<String, String> {
    if template.exists("Distribution", stack)? {
        check_cloudfront(template, config, stack, task, progress).await
    } else {
        check_plain_http(template, config, stack, task, progress).await
    }
}

/// The escape for accounts CloudFront refuses: DateroUrl is the Elastic IP on port 80, the
/// address is on Datero's instance, and the instance admits port 80 from `AllowedCidr` only.
async fn check_plain_http(
    template: &Template,
    config: &SdkConfig,
    stack: &Stack,
    task: &str,
    progress: &Progress,
) -> Result<String, String> {
    let url = template
        .resolve(&template.yaml()["Outputs"]["DateroUrl"]["Value"], stack)?
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    progress.event("Outputs", "DateroUrl", &url);
    let (on, public_ip) = address_holder(config, stack).await?;
    let runs_on = instance_of_task(config, stack, task).await?;
    if on != runs_on || url != format!("http://{public_ip}/") {
        return Err(format!(
            "DateroUrl {url}; the Elastic IP {public_ip} is on {on}, Datero runs on {runs_on}"
        ));
    }
    let (ranges, prefix_lists) = inbound(config, stack).await?;
    let allowed = stack.parameters["AllowedCidr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if ranges != [(80, allowed.clone())] || !prefix_lists.is_empty() {
        return Err(format!(
            "inbound rules {ranges:?} and {prefix_lists:?}, expected port 80 from {allowed} only"
        ));
    }
    Ok(url)
}

/// Public mode: DateroUrl is the distribution's HTTPS URL; the distribution's origin is the
/// Elastic IP's public name on the proxy's port with the origin token's header; the address is
/// on Datero's instance; the instance admits only CloudFront's prefix list, on the proxy's
/// port; Datero's own port is not published. Returns DateroUrl.
async fn check_cloudfront(
    template: &Template,
    config: &SdkConfig,
    stack: &Stack,
    task: &str,
    progress: &Progress,
) -> Result<String, String> {
    let url = template
        .resolve(&template.yaml()["Outputs"]["DateroUrl"]["Value"], stack)?
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    progress.event("Outputs", "DateroUrl", &url);
    let read_sign_in = template
        .resolve(
            &template.yaml()["Outputs"]["ReadSignInCommand"]["Value"],
            stack,
        )?
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if !read_sign_in.contains(&stack.refs["EdgeSecret"]) {
        return Err(format!(
            "ReadSignInCommand does not read the sign-in secret: {read_sign_in}"
        ));
    }
    progress.event("Outputs", "ReadSignInCommand", &read_sign_in);
    let domain = &stack.attributes["Distribution.DomainName"];
    if url != format!("https://{domain}/") {
        return Err(format!(
            "DateroUrl {url} is not the distribution's {domain}"
        ));
    }
    let (on, public_ip) = address_holder(config, stack).await?;
    let runs_on = instance_of_task(config, stack, task).await?;
    if on != runs_on {
        return Err(format!(
            "the Elastic IP is on {on}, Datero runs on {runs_on}"
        ));
    }
    let ip: std::net::Ipv4Addr = public_ip
        .parse()
        .map_err(|e| format!("the Elastic IP {public_ip}: {e}"))?;
    let expected_origin = edge::origin_domain(&stack.region, ip).map_err(|e| e.to_string())?;
    distribution_fits(template, stack, &expected_origin)?;
    progress.event(
        "Distribution",
        "ORIGIN",
        &format!("http://{expected_origin}:{}/", edge::PROXY_PORT),
    );
    let (ranges, prefix_lists) = inbound(config, stack).await?;
    let expected = vec![(
        edge::PROXY_PORT,
        stack.attributes["Edge.PrefixListId"].clone(),
    )];
    if !ranges.is_empty() || prefix_lists != expected {
        return Err(format!(
            "inbound rules: address ranges {ranges:?} and prefix lists {prefix_lists:?}, expected only {expected:?}"
        ));
    }
    proxy_in_front(config, task, &origin_token_reference(stack, ":")).await?;
    Ok(url)
}

/// The origin token in the version of the edge secret that the edge resource wrote, as the
/// distribution's dynamic reference (`separator` `:SecretString:`) or ECS (`:`) names it.
fn origin_token_reference(stack: &Stack, separator: &str) -> String {
    format!(
        "{}{separator}originToken::{}",
        stack.refs["EdgeSecret"], stack.attributes["Edge.SecretVersionId"]
    )
}

/// The distribution as the template resolves it for this stack: its origin is `expected_origin`
/// on the proxy's port, with the header whose value is the origin token's secret; the sign-in
/// runs on every viewer request; viewers come over HTTPS only.
fn distribution_fits(
    template: &Template,
    stack: &Stack,
    expected_origin: &str,
) -> Result<(), String> {
    let config_of = template.properties("Distribution", stack)?;
    let distribution = &config_of["DistributionConfig"];
    let origin = &distribution["Origins"][0];
    let header = &origin["OriginCustomHeaders"][0];
    let token_secret = origin_token_reference(stack, ":SecretString:");
    let checks = [
        (
            "origin",
            origin["DomainName"].as_str() == Some(expected_origin),
        ),
        (
            "origin port",
            origin["CustomOriginConfig"]["HTTPPort"].as_i64() == Some(i64::from(edge::PROXY_PORT))
                || origin["CustomOriginConfig"]["HTTPPort"].as_str()
                    == Some(edge::PROXY_PORT.to_string().as_str()),
        ),
        (
            "origin header",
            header["HeaderName"].as_str() == Some(edge::ORIGIN_HEADER)
                && header["HeaderValue"].as_str()
                    == Some(format!("{{{{resolve:secretsmanager:{token_secret}}}}}").as_str()),
        ),
        (
            "sign-in function",
            distribution["DefaultCacheBehavior"]["FunctionAssociations"][0]["FunctionARN"]
                == json!(stack.attributes["SignInFunction.FunctionARN"]),
        ),
        (
            "viewers on HTTPS only",
            distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "https-only",
        ),
    ];
    if let Some((what, _)) = checks.iter().find(|(_, holds)| !holds) {
        return Err(format!(
            "the distribution's {what} does not fit (origin should be {expected_origin}:{} with {}): {distribution}",
            edge::PROXY_PORT,
            edge::ORIGIN_HEADER
        ));
    }
    Ok(())
}

/// The running task publishes the proxy's port and not Datero's, and the proxy's token is the
/// secret whose value the distribution sends.
async fn proxy_in_front(config: &SdkConfig, task: &str, token_secret: &str) -> Result<(), String> {
    let (definition_arn, containers) = containers_of(config, task).await?;
    let published: Vec<(String, i32)> = containers
        .iter()
        .flat_map(|c| {
            c.port_mappings().iter().map(|m| {
                (
                    c.name().unwrap_or_default().to_owned(),
                    m.host_port().unwrap_or_default(),
                )
            })
        })
        .collect();
    let proxy = containers
        .iter()
        .find(|c| c.name() == Some(edge::PROXY_CONTAINER))
        .ok_or_else(|| format!("no {} container in {definition_arn}", edge::PROXY_CONTAINER))?;
    let token_from = proxy
        .secrets()
        .iter()
        .find(|s| s.name() == edge::ORIGIN_TOKEN_VARIABLE)
        .map(|s| s.value_from().to_owned());
    if published.contains(&("datero".to_owned(), 80)) {
        return Err(format!("Datero's port 80 is published: {published:?}"));
    }
    if !published.contains(&(edge::PROXY_CONTAINER.to_owned(), edge::PROXY_PORT))
        || token_from.as_deref() != Some(token_secret)
    {
        return Err(format!(
            "the proxy publishes {published:?} and reads its token from {token_from:?}, expected {} and {token_secret}",
            edge::PROXY_PORT
        ));
    }
    Ok(())
}

/// The task definition of the task `task`, and its containers.
async fn containers_of(
    config: &SdkConfig,
    task: &str,
) -> Result<(String, Vec<aws_sdk_ecs::types::ContainerDefinition>), String> {
    let ecs = aws_sdk_ecs::Client::new(config);
    let cluster = task
        .split('/')
        .nth(1)
        .ok_or_else(|| format!("no cluster in {task}"))?;
    let described = ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(task)
        .send()
        .await
        .map_err(|e| format!("DescribeTasks: {e}"))?;
    let definition_arn = described
        .tasks()
        .first()
        .and_then(|t| t.task_definition_arn())
        .ok_or("the task has no task definition")?
        .to_owned();
    let definition = ecs
        .describe_task_definition()
        .task_definition(&definition_arn)
        .send()
        .await
        .map_err(|e| format!("DescribeTaskDefinition: {e}"))?;
    let containers = definition
        .task_definition()
        .map(|d| d.container_definitions().to_vec())
        .unwrap_or_default();
    Ok((definition_arn, containers))
}

/// Private mode: no Elastic IP, no inbound rule, and the output that opens the UI.
pub async fn check_private(
    template: &Template,
    config: &SdkConfig,
    stack: &Stack,
    progress: &Progress,
) -> Result<(), String> {
    let command = template
        .resolve(&template.yaml()["Outputs"]["OpenUiCommand"]["Value"], stack)?
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    progress.event("Outputs", "OpenUiCommand", &command);
    if !command.contains("AWS-StartPortForwardingSession") {
        return Err(format!("no port-forwarding command: {command:?}"));
    }
    let addresses = aws_sdk_ec2::Client::new(config)
        .describe_addresses()
        .send()
        .await
        .map_err(|e| format!("DescribeAddresses: {e}"))?;
    if !addresses.addresses().is_empty() {
        return Err("private mode allocated an Elastic IP".to_owned());
    }
    let ingress = inbound_rules(config, stack).await?;
    if !ingress.is_empty() {
        return Err(format!("inbound rules in private mode: {ingress:?}"));
    }
    Ok(())
}

/// `(port, range)` of each inbound rule of the instance's security group.
async fn inbound_rules(config: &SdkConfig, stack: &Stack) -> Result<Vec<(i32, String)>, String> {
    let (mut ranges, prefix_lists) = inbound(config, stack).await?;
    ranges.extend(prefix_lists);
    Ok(ranges)
}

/// The instance group's inbound rules: `(port, CIDR)` and `(port, prefix list)`.
async fn inbound(
    config: &SdkConfig,
    stack: &Stack,
) -> Result<(Vec<(i32, String)>, Vec<(i32, String)>), String> {
    let group = stack.refs["InstanceSecurityGroup"].clone();
    let groups = aws_sdk_ec2::Client::new(config)
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .map_err(|e| format!("DescribeSecurityGroups: {e}"))?;
    let permissions: Vec<_> = groups
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
        .collect();
    // `(port, source)` of every rule, the source read by `sources` from each permission.
    let by = |sources: fn(&aws_sdk_ec2::types::IpPermission) -> Vec<String>| {
        permissions
            .iter()
            .flat_map(|p| {
                sources(p)
                    .into_iter()
                    .map(|source| (p.from_port().unwrap_or_default(), source))
            })
            .collect::<Vec<_>>()
    };
    let ranges = by(|p| {
        p.ip_ranges()
            .iter()
            .map(|range| range.cidr_ip().unwrap_or_default().to_owned())
            .collect()
    });
    let prefix_lists = by(|p| {
        p.prefix_list_ids()
            .iter()
            .map(|list| list.prefix_list_id().unwrap_or_default().to_owned())
            .collect()
    });
    Ok((ranges, prefix_lists))
}

/// The instance dies; the group launches another; it registers and its event arrives; the
/// restarter's new task runs there; the URL is the same. Returns the new task.
#[allow(clippy::too_many_arguments)] // the lifecycle's context, passed as it is
pub async fn replace_instance(
    template: &Template,
    config: &SdkConfig,
    stack: &Stack,
    restarter: &Function,
    elastic_ip: &Function,
    task: &str,
    progress: &Progress,
) -> Result<String, String> {
    let before = check_public(template, config, stack, task, progress).await?;
    let old = instance_of_task(config, stack, task).await?;
    let old_container_instance = container_instance(config, stack, &old).await?;
    let new = terminate_and_replace(config, stack, &old, progress).await?;
    instance_joined(config, stack, elastic_ip, &new, progress).await?;
    // The old task's STOPPED event reaches the restarter.
    let event = stopped_event(config, stack, task).await?;
    restarter.invoke_ok(event, "the restarter").await?;
    let restarted = running_task(config, stack).await?;
    let runs_on = instance_of_task(config, stack, &restarted).await?;
    if runs_on != new {
        return Err(format!("the new task runs on {runs_on}, not on {new}"));
    }
    let (now_on, _) = address_holder(config, stack).await?;
    if now_on != new {
        return Err(format!("the Elastic IP stayed on {now_on}"));
    }
    // The same URL, whose origin (the Elastic IP's name) now leads to the new instance: nothing
    // in CloudFront changed.
    let after = check_public(template, config, stack, &restarted, progress).await?;
    progress.event(
        "Outputs",
        "DateroUrl",
        &format!("before {before}, after {after}"),
    );
    if url_host(&after) != url_host(&before) {
        return Err(format!("the URL changed: {before} -> {after}"));
    }
    late_event_changes_nothing(
        stack,
        elastic_ip,
        &old_container_instance,
        &new,
        config,
        progress,
    )
    .await?;
    Ok(restarted)
}

/// EC2 terminates `old`: its agent goes, ECS deregisters it and stops its task; the group
/// launches a replacement, whose agent registers. Returns the new instance's id.
async fn terminate_and_replace(
    config: &SdkConfig,
    stack: &Stack,
    old: &str,
    progress: &Progress,
) -> Result<String, String> {
    aws_sdk_autoscaling::Client::new(config)
        .terminate_instance_in_auto_scaling_group()
        .instance_id(old)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .map_err(|e| format!("TerminateInstanceInAutoScalingGroup: {e}"))?;
    // The emulator, as AWS, stops the instance's task and deregisters it from the cluster.
    progress.event("Instances", "TERMINATED", old);
    // The group replaces it; the new instance's agent registers.
    let group = seed::describe_group(config, &stack.refs["Instances"])
        .await
        .ok_or("the group is gone")?;
    let new = group
        .instances()
        .iter()
        .filter_map(|i| i.instance_id())
        .find(|id| *id != old)
        .ok_or("the group launched no replacement")?
        .to_owned();
    seed::register_instances(config, &cluster_name(stack), &group).await;
    progress.event("Instances", "REPLACED", &format!("{old} -> {new}"));
    Ok(new)
}

/// A late ACTIVE event about the dead instance must not pull the address back.
async fn late_event_changes_nothing(
    stack: &Stack,
    elastic_ip: &Function,
    old_container_instance: &ContainerInstance,
    new: &str,
    config: &SdkConfig,
    progress: &Progress,
) -> Result<(), String> {
    let late = events::container_instance_state_change(
        old_container_instance,
        &stack.attributes["Cluster.ClusterArn"],
        "late-old-instance",
    );
    elastic_ip
        .invoke_ok(late, "the elastic-ip function, on a late event,")
        .await?;
    let (still, _) = address_holder(config, stack).await?;
    if still != new {
        return Err(format!("a late event moved the address back to {still}"));
    }
    progress.event(
        "ElasticIpFunction",
        "SKIPPED",
        "a late ACTIVE event of the dead instance",
    );
    Ok(())
}
