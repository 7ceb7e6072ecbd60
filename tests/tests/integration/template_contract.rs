//! template.yaml against the contract (`../shared/CONTRACT.md`, as these tests restate it) and
//! the functions' own parsers: a typo in the template fails here, not in a deployment.

use std::collections::BTreeMap;

use datero_shared::resources::cluster::ClusterSpec;
use datero_shared::resources::task::TaskSpec;
use datero_shared::resources::task_definition::{Persistence, TaskDefinitionSpec};
use datero_testbed::template::{Stack, Template};
use datero_testbed::workspace_root;
use serde_json::{Value as Json, json};
use serde_norway::Value as Yaml;

const STACK: &str = "teststack";

/// Attributes each custom resource returns: the constants its function answers with.
fn returned_data(kind: &str) -> &'static [&'static str] {
    use datero_shared::resources::{cluster, edge, task, task_definition};
    match kind {
        "Custom::DateroCluster" => cluster::returned::ALL,
        "Custom::DateroEdge" => edge::returned::ALL,
        "Custom::DateroTaskDefinition" => task_definition::returned::ALL,
        "Custom::DateroTask" => task::returned::ALL,
        _ => &[],
    }
}

/// A stack whose resources all exist, with plausible values, for one `DataPersistence`.
fn sample_stack(template: &Template, persistence: &str) -> Stack {
    let mut stack = Stack::placeholder(template, STACK);
    stack
        .parameters
        .insert("DataPersistence".into(), json!(persistence));
    stack
}

#[test]
fn every_custom_resource_is_accepted_by_its_function_parser() {
    let template = Template::load().unwrap();
    for persistence in ["efs", "instance", "none"] {
        let stack = sample_stack(&template, persistence);
        let properties = |name: &str| {
            template
                .properties(name, &stack)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        for name in template.resources_of("Custom::DateroCluster") {
            ClusterSpec::parse(&properties(&name), STACK).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for name in template.resources_of("Custom::DateroTaskDefinition") {
            let spec = TaskDefinitionSpec::parse(&properties(&name))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = match persistence {
                "efs" => matches!(spec.persistence, Persistence::Efs { .. }),
                "instance" => matches!(spec.persistence, Persistence::HostPath { .. }),
                _ => spec.persistence == Persistence::Ephemeral,
            };
            assert!(expected, "{persistence}: {:?}", spec.persistence);
            assert!(
                spec.log_group_name.is_some(),
                "Datero's logs go to the stack's log group"
            );
        }
        for name in template.resources_of("Custom::DateroTask") {
            TaskSpec::parse(&properties(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for name in template.resources_of("Custom::DateroEdge") {
            datero_shared::resources::edge::EdgeSpec::parse(&properties(&name))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    for kind in [
        "Custom::DateroCluster",
        "Custom::DateroTaskDefinition",
        "Custom::DateroTask",
    ] {
        assert_eq!(template.resources_of(kind).len(), 1, "one {kind}");
    }
}

#[test]
fn every_getatt_of_a_custom_resource_names_data_it_returns() {
    let template = Template::load().unwrap();
    let text = serde_norway::to_string(template.yaml()).unwrap();
    let mut checked = 0;
    for name in ["Cluster", "TaskDefinition", "DateroTask", "Edge"] {
        let kind = template.resource(name)["Type"].as_str().unwrap();
        for piece in text.split(&format!("{name}.")).skip(1) {
            let attribute: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                returned_data(kind).contains(&attribute.as_str()),
                "{name}.{attribute}: {kind} returns no {attribute}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "found {checked} attribute references");
}

#[test]
fn custom_resources_have_service_timeouts_functions_and_a_creatable_order() {
    let template = Template::load().unwrap();
    assert_eq!(
        template.custom_resources_in_order(),
        [
            "Edge",
            "MountTargets",
            "Cluster",
            "TaskDefinition",
            "DateroTask"
        ]
    );
    for name in template.custom_resources_in_order() {
        let properties = &template.resource(&name)["Properties"];
        let timeout = properties["ServiceTimeout"].as_u64().unwrap_or(0);
        let Yaml::Tagged(token) = &properties["ServiceToken"] else {
            panic!("{name}: ServiceToken must be !GetAtt <Function>.Arn")
        };
        let function = token.value.as_str().unwrap().trim_end_matches(".Arn");
        let function_timeout = template.resource(function)["Properties"]["Timeout"]
            .as_u64()
            .unwrap();
        assert!(
            timeout > function_timeout && timeout <= 3600,
            "{name}: ServiceTimeout {timeout} vs Timeout {function_timeout}"
        );
    }
    // The cluster (which lifts the group's protection) is deleted before the group.
    assert!(
        template
            .dependencies("Cluster")
            .contains(&"Instances".to_owned())
    );
    for name in template.resources_of("AWS::Serverless::Function") {
        let function = template.resource(&name);
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        assert!(
            workspace_root()
                .join("functions")
                .join(binary)
                .join("Cargo.toml")
                .exists(),
            "{name}: no crate {binary}"
        );
    }
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one contract: each variable of the restarter and its rule checked in turn"
)]
fn the_restarter_environment_and_rule_match_the_contract() {
    let template = Template::load().unwrap();
    let stack = sample_stack(&template, "efs");
    let restarter = template.resource("TaskRestarterFunction");
    let env: BTreeMap<String, Json> = restarter["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter_map(|(key, value)| {
            // A variable under a false condition (AWS::NoValue) is not set.
            let value = template.resolve(value, &stack).unwrap()?;
            Some((key.as_str().unwrap().to_owned(), value))
        })
        .collect();
    assert_eq!(env["CLUSTER_NAME"], json!(format!("{STACK}-datero")));
    assert_eq!(
        env["CAPACITY_PROVIDER_NAME"],
        json!(format!("datero-{STACK}-ec2"))
    );
    assert_eq!(env["TASK_FAMILY"], json!(format!("{STACK}-datero")));
    let allowed = [
        "CLUSTER_NAME",
        "CAPACITY_PROVIDER_NAME",
        "TASK_FAMILY",
        "RESTART_QUEUE_URL",
        "RESTARTS_PAUSED",
        // Beyond CONTRACT.md (issue 23): the down alarm the restarter brings back after
        // office hours begin; set only with office hours.
        "DOWN_ALARM_NAME",
        // The backup family whose runs it checks after each backup firing (issue 23, item 5).
        "BACKUP_FAMILY",
    ];
    assert!(!env.contains_key("DOWN_ALARM_NAME"), "no office hours here");
    assert!(
        env.keys().all(|name| allowed.contains(&name.as_str())),
        "{env:?}"
    );

    let rule = &template.resource("TaskStoppedRule")["Properties"];
    assert_eq!(
        named_function(&rule["Targets"][0]["Arn"]).as_deref(),
        Some("TaskRestarterFunction")
    );
    let pattern = template
        .resolve(&rule["EventPattern"], &stack)
        .unwrap()
        .unwrap();
    let family = template.properties("TaskDefinition", &stack).unwrap()["Family"].clone();
    assert_eq!(
        pattern,
        json!({
            "source": ["aws.ecs"],
            "detail-type": ["ECS Task State Change"],
            "detail": {
                "lastStatus": ["STOPPED"],
                "clusterArn": [stack.attributes["Cluster.ClusterArn"]],
                "group": [format!("family:{}", family.as_str().unwrap())],
            }
        })
    );
    let target = &rule["Targets"][0];
    assert!(target["RetryPolicy"].is_mapping() && target["DeadLetterConfig"].is_mapping());

    // Beyond CONTRACT.md (issue 23): the cluster's instances going DRAINING reach the restarter
    // in the shape its parser reads (event.rs, INSTANCE_STATE_CHANGE).
    let draining = &template.resource("InstanceDrainingRule")["Properties"];
    assert_eq!(
        named_function(&draining["Targets"][0]["Arn"]).as_deref(),
        Some("TaskRestarterFunction")
    );
    let pattern = template
        .resolve(&draining["EventPattern"], &stack)
        .unwrap()
        .unwrap();
    assert_eq!(
        pattern,
        json!({
            "source": ["aws.ecs"],
            "detail-type": ["ECS Container Instance State Change"],
            "detail": {
                "clusterArn": [stack.attributes["Cluster.ClusterArn"]],
                "status": ["DRAINING"],
            }
        })
    );
    let target = &draining["Targets"][0];
    assert!(target["RetryPolicy"].is_mapping() && target["DeadLetterConfig"].is_mapping());
}

/// The function resource a rule target or permission names (`!GetAtt <Function>.Arn`, `!Ref`).
fn named_function(value: &Yaml) -> Option<String> {
    let text = match value {
        // `!GetAtt [Function, Arn]`
        Yaml::Tagged(tagged) if tagged.value.is_sequence() => {
            tagged.value[0].as_str().map(str::to_owned)
        }
        Yaml::Tagged(tagged) => tagged.value.as_str().map(str::to_owned),
        Yaml::String(text) => Some(text.clone()),
        other => other["Fn::GetAtt"]
            .as_str()
            .or(other["Ref"].as_str())
            .map(str::to_owned),
    }?;
    Some(text.trim_end_matches(".Arn").to_owned())
}

/// The `AWS::Lambda::EventInvokeConfig` of `function` that has an on-failure destination.
fn failure_config(template: &Template, function: &str) -> Option<String> {
    template
        .resources_of("AWS::Lambda::EventInvokeConfig")
        .into_iter()
        .find(|config| {
            let properties = &template.resource(config)["Properties"];
            named_function(&properties["FunctionName"]).as_deref() == Some(function)
                && !properties["DestinationConfig"]["OnFailure"]["Destination"].is_null()
        })
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one contract, checked for each asynchronous function in turn"
)]
fn asynchronous_functions_keep_their_failures_and_nothing_reserves_concurrency() {
    let template = Template::load().unwrap();
    let stack = sample_stack(&template, "efs");
    // Reserved concurrency fails outright on accounts with a small quota (Lambda guide,
    // "Configuring reserved concurrency"): none, anywhere.
    for function in template.resources_of("AWS::Serverless::Function") {
        assert!(
            template.resource(&function)["Properties"]["ReservedConcurrentExecutions"].is_null(),
            "{function} reserves concurrency"
        );
    }
    // Every rule target is invoked asynchronously: it needs an on-failure destination of its
    // own, and its role must be able to send there.
    let mut targets = Vec::new();
    for rule in template.resources_of("AWS::Events::Rule") {
        for target in template.resource(&rule)["Properties"]["Targets"]
            .as_sequence()
            .unwrap()
        {
            targets.push(named_function(&target["Arn"]).unwrap());
        }
    }
    assert!(!targets.is_empty());
    for function in targets {
        let properties = &template.resource(&function)["Properties"];
        let config = failure_config(&template, &function).unwrap_or_else(|| {
            panic!("{function} has no EventInvokeConfig with an on-failure destination")
        });
        let destination = template
            .resolve(
                &template.resource(&config)["Properties"]["DestinationConfig"]["OnFailure"]
                    ["Destination"],
                &stack,
            )
            .unwrap()
            .unwrap();
        assert!(
            destination.as_str().unwrap().starts_with("arn:aws:sqs:"),
            "{destination}"
        );
        let role = named_function(&properties["Role"]).unwrap();
        let statements: Vec<Json> = template.resource(&role)["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|policy| {
                let document = template
                    .resolve(&policy["PolicyDocument"], &stack)
                    .unwrap()
                    .unwrap();
                document["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let as_list = |value: &Json| match value {
            Json::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        assert!(
            statements.iter().any(|statement| {
                as_list(&statement["Action"]).contains(&json!("sqs:SendMessage"))
                    && as_list(&statement["Resource"]).contains(&destination)
            }),
            "{role} cannot send to {function}'s failure destination {destination}"
        );
    }
    // The restarter's SQS source is capped by MaximumConcurrency instead (at least 2).
    let source = &template.resource("TaskRestarterFunction")["Properties"]["Events"]["DelayedRestarts"]
        ["Properties"];
    let cap = source["ScalingConfig"]["MaximumConcurrency"].as_u64();
    assert!(cap.is_some_and(|cap| cap >= 2), "{cap:?}");
}

#[test]
fn the_data_and_its_password_outlive_the_stack_and_the_idle_instance() {
    let template = Template::load().unwrap();
    for resource in ["FileSystem", "PasswordSecret"] {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(
                template.resource(resource)[policy].as_str(),
                Some("Retain"),
                "{resource} {policy}"
            );
        }
    }
    // Instance-disk data lives on the instance's root volume: the group keeps the instance
    // while no task runs (managed scaling would remove it otherwise).
    for (persistence, min) in [("instance", "1"), ("efs", "0"), ("none", "0")] {
        let stack = sample_stack(&template, persistence);
        let size = template
            .resolve(
                &template.resource("Instances")["Properties"]["MinSize"],
                &stack,
            )
            .unwrap();
        assert_eq!(size, Some(json!(min)), "{persistence}");
    }
}

#[test]
fn no_secret_value_and_no_open_ingress() {
    let template = Template::load().unwrap();
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    assert!(
        !text.contains("POSTGRES_PASSWORD:"),
        "the password never appears as a value"
    );
    // AllowedCidr narrows the sign-in; its pattern refuses prefixes shorter than /8.
    let allowed = &template.yaml()["Parameters"]["AllowedCidr"];
    assert_eq!(allowed["Default"].as_str(), Some(""));
    let mut stack = sample_stack(&template, "efs");
    stack
        .parameters
        .insert("PublicAccess".into(), json!("true"));
    stack
        .parameters
        .insert("AllowedCidr".into(), json!("0.0.0.0/0"));
    assert!(
        template.check_parameters(&stack).is_err(),
        "a world-open range is refused"
    );
    stack.parameters.insert("AllowedCidr".into(), json!(""));
    assert_eq!(template.check_rules(&stack), Ok(()));
    // No address range reaches the instance: its one inbound rule in public mode is CloudFront's
    // prefix list, on the proxy's port, and no group has an inline rule.
    for name in template.resources_of("AWS::EC2::SecurityGroup") {
        let ingress = template
            .resolve(
                &template.resource(&name)["Properties"]["SecurityGroupIngress"],
                &stack,
            )
            .unwrap()
            .unwrap_or_default();
        for rule in ingress.as_array().into_iter().flatten() {
            assert_ne!(rule["CidrIp"], "0.0.0.0/0", "{name} is open to the world");
        }
    }
    assert!(
        template.resource("InstanceSecurityGroup")["Properties"]["SecurityGroupIngress"].is_null()
    );
    // In public mode the one separate rule is CloudFront's (the escape's is not made).
    let made: Vec<String> = template
        .resources_of("AWS::EC2::SecurityGroupIngress")
        .into_iter()
        .filter(|rule| template.exists(rule, &stack).unwrap())
        .collect();
    assert_eq!(made, ["CloudFrontIngress"]);
    let rule = template.properties("CloudFrontIngress", &stack).unwrap();
    assert_eq!(rule["SourcePrefixListId"], "pl-0123456789abcdef0");
    assert!(rule.get("CidrIp").is_none(), "{rule}");
    // The resolver gives numbers as CloudFormation passes them on: as text.
    let proxy_port = json!(datero_shared::edge::PROXY_PORT.to_string());
    assert_eq!(rule["FromPort"], proxy_port);
    assert_eq!(rule["ToPort"], proxy_port);
}

#[test]
fn the_plain_http_escape_needs_a_range_and_opens_datero_s_port_to_it_only() {
    let template = Template::load().unwrap();
    let escape = [("PublicAccess", "plain-http-without-sign-in")];
    let stack = stack_with(&template, &escape).with(&[("AllowedCidr", "")]);
    let refused = template.check_rules(&stack).unwrap_err();
    assert!(refused.contains("PlainHttpNeedsARange"), "{refused}");
    let stack = stack_with(&template, &escape).with(&[("AllowedCidr", "198.51.100.0/24")]);
    assert_eq!(template.check_rules(&stack), Ok(()));
    for (resource, exists) in [
        ("Eip", true),
        ("ElasticIpFunction", true),
        ("PlainHttpIngress", true),
        ("CloudFrontIngress", false),
        ("Edge", false),
        ("EdgeSecret", false),
        ("Distribution", false),
        ("SignInFunction", false),
    ] {
        assert_eq!(template.exists(resource, &stack), Ok(exists), "{resource}");
    }
    let rule = template.properties("PlainHttpIngress", &stack).unwrap();
    assert_eq!(
        (&rule["CidrIp"], &rule["FromPort"], &rule["ToPort"]),
        (&json!("198.51.100.0/24"), &json!("80"), &json!("80"))
    );
    let web = &template.properties("TaskDefinition", &stack).unwrap();
    assert_eq!(
        (&web["HostPort"], web.get("OriginTokenSecretArn")),
        (&json!("80"), None)
    );
    let url = template
        .resolve(&template.yaml()["Outputs"]["DateroUrl"]["Value"], &stack)
        .unwrap();
    assert_eq!(url, Some(json!("http://203.0.113.10/")));
}

#[test]
fn cloudfront_reaches_the_proxy_with_the_token_the_proxy_reads() {
    let template = Template::load().unwrap();
    let stack = sample_stack(&template, "efs");
    let proxy_port = json!(datero_shared::edge::PROXY_PORT.to_string());
    // Viewers reach CloudFront on HTTPS only; CloudFront reaches the proxy's port with the
    // header the proxy checks, whose value is the secret the proxy reads.
    let distribution = template.properties("Distribution", &stack).unwrap();
    let config = &distribution["DistributionConfig"];
    assert_eq!(
        config["DefaultCacheBehavior"]["ViewerProtocolPolicy"],
        "https-only"
    );
    let origin = &config["Origins"][0];
    assert_eq!(origin["CustomOriginConfig"]["HTTPPort"], proxy_port);
    assert_eq!(
        origin["OriginCustomHeaders"][0]["HeaderName"],
        datero_shared::edge::ORIGIN_HEADER
    );
    // Both name the version the edge resource wrote, so a rotation changes both.
    let (secret, version) = (
        &stack.refs["EdgeSecret"],
        &stack.attributes["Edge.SecretVersionId"],
    );
    let token = &template.properties("TaskDefinition", &stack).unwrap()["OriginTokenSecretArn"];
    assert_eq!(token, &json!(format!("{secret}:originToken::{version}")));
    assert_eq!(
        origin["OriginCustomHeaders"][0]["HeaderValue"],
        format!("{{{{resolve:secretsmanager:{secret}:SecretString:originToken::{version}}}}}")
    );
}

#[test]
fn with_efs_the_instance_runs_only_where_a_mount_target_is() {
    // The default VPC of us-east-1 has six subnets; mount targets go in the first three.
    let template = Template::load().unwrap();
    let six = json!([
        "subnet-1", "subnet-2", "subnet-3", "subnet-4", "subnet-5", "subnet-6"
    ]);
    let group_subnets = |persistence: &str| {
        let mut stack = sample_stack(&template, persistence);
        stack.parameters.insert("SubnetIds".into(), six.clone());
        template
            .resolve(
                &template.resource("Instances")["Properties"]["VPCZoneIdentifier"],
                &stack,
            )
            .unwrap()
            .unwrap()
    };
    let mut stack = sample_stack(&template, "efs");
    stack.parameters.insert("SubnetIds".into(), six.clone());
    // The mount targets cover the zones of every subnet the group uses.
    let mount_targets = template
        .resolve(
            &template.resource("MountTargets")["Properties"]["SubnetIds"],
            &stack,
        )
        .unwrap()
        .unwrap();
    assert_eq!(group_subnets("efs"), mount_targets);
    assert_eq!(group_subnets("efs"), six);
    // Without EFS, every subnet given, and no mount targets.
    assert_eq!(group_subnets("instance"), six);
    let stack = sample_stack(&template, "instance");
    assert!(!template.exists("MountTargets", &stack).unwrap());
}

fn stack_with(template: &Template, parameters: &[(&str, &str)]) -> Stack {
    sample_stack(template, "efs").with(parameters)
}

#[test]
fn the_elastic_ip_follows_the_instance_by_an_event_in_public_mode() {
    let template = Template::load().unwrap();
    let stack = stack_with(&template, &[("PublicAccess", "true")]);
    // The rule of the contract, targeting the elastic-ip function.
    let rule = &template.resource("InstanceJoinedRule")["Properties"];
    assert_eq!(
        template
            .resolve(&rule["EventPattern"], &stack)
            .unwrap()
            .unwrap(),
        json!({
            "source": ["aws.ecs"],
            "detail-type": ["ECS Container Instance State Change"],
            "detail": {
                "clusterArn": [stack.attributes["Cluster.ClusterArn"]],
                "status": ["ACTIVE"],
            }
        })
    );
    let target = named_function(&rule["Targets"][0]["Arn"]).unwrap();
    assert_eq!(
        template.resource(&target)["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("elastic-ip")
    );
    let env = template
        .resolve(
            &template.resource(&target)["Properties"]["Environment"]["Variables"],
            &stack,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        env,
        json!({
            "CLUSTER_NAME": format!("{STACK}-datero"),
            "ALLOCATION_ID": stack.attributes["Eip.AllocationId"],
        })
    );
    // The runner puts the address on Datero's instance before it answers.
    let task = TaskSpec::parse(&template.properties("DateroTask", &stack).unwrap()).unwrap();
    assert_eq!(
        task.elastic_ip_allocation_id.as_deref(),
        Some(stack.attributes["Eip.AllocationId"].as_str())
    );
    assert!(template.exists("Eip", &stack).unwrap());
    assert!(template.yaml()["Outputs"]["DateroUrl"]["Condition"].as_str() == Some("IsPublic"));
}

#[test]
fn the_instance_runs_nothing_but_the_agent_and_asks_for_its_own_address() {
    let template = Template::load().unwrap();
    for (access, public_ip, expected) in [("true", "true", true), ("false", "false", false)] {
        let stack = stack_with(
            &template,
            &[("PublicAccess", access), ("InstancePublicIp", public_ip)],
        );
        let data = template
            .resolve(
                &template.resource("LaunchTemplate")["Properties"]["LaunchTemplateData"],
                &stack,
            )
            .unwrap()
            .unwrap();
        let interface = &data["NetworkInterfaces"][0];
        assert_eq!(
            interface["AssociatePublicIpAddress"],
            json!(expected.to_string())
        );
        assert_eq!(
            interface["Groups"],
            json!([stack.refs["InstanceSecurityGroup"]]),
            "the security group goes on the interface"
        );
        assert!(data.get("SecurityGroupIds").is_none());
    }
    // The user data writes the ECS agent's configuration and nothing else: the AL2023
    // ECS-optimized AMI has no AWS CLI.
    let stack = sample_stack(&template, "efs");
    let user_data = template
        .resolve(
            &template.resource("LaunchTemplate")["Properties"]["LaunchTemplateData"]["UserData"],
            &stack,
        )
        .unwrap();
    let Some(Json::String(text)) = user_data else {
        panic!("user data not resolved: {user_data:?}")
    };
    let commands: Vec<&str> = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(
        commands,
        [
            "cat >> /etc/ecs/ecs.config <<EOF",
            &format!("ECS_CLUSTER={STACK}-datero"),
            "ECS_CONTAINER_STOP_TIMEOUT=2m",
            "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true",
            "ECS_ENABLE_TASK_IAM_ROLE=true",
            "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true",
            "EOF",
        ]
    );
}

#[test]
fn private_mode_has_no_address_no_ingress_and_a_command_that_opens_the_ui() {
    let template = Template::load().unwrap();
    let stack = stack_with(
        &template,
        &[("PublicAccess", "false"), ("InstancePublicIp", "false")],
    );
    for resource in [
        "Eip",
        "ElasticIpFunction",
        "ElasticIpFunctionRole",
        "ElasticIpFunctionLogGroup",
        "InstanceJoinedRule",
        "InstanceJoinedRulePermission",
        // No inbound rule at all (the group has none inline), and nothing of CloudFront.
        "CloudFrontIngress",
        "Edge",
        "Distribution",
        "SignInFunction",
        "EdgeSecret",
    ] {
        assert!(
            !template.exists(resource, &stack).unwrap(),
            "{resource} in private mode"
        );
    }
    // Session Manager forwards to Datero's port 80; no proxy.
    let web = &template.properties("TaskDefinition", &stack).unwrap();
    assert_eq!(
        (&web["HostPort"], web.get("OriginTokenSecretArn")),
        (&json!("80"), None)
    );
    let task = TaskSpec::parse(&template.properties("DateroTask", &stack).unwrap()).unwrap();
    assert_eq!(task.elastic_ip_allocation_id, None);
    // The runner's role has no Elastic IP statement (it would name a resource that is not there).
    let runner = template
        .resolve(
            &template.resource("TaskRunnerFunctionRole")["Properties"]["Policies"],
            &stack,
        )
        .unwrap()
        .unwrap();
    assert!(!runner.to_string().contains("AssociateAddress"));
    let outputs = &template.yaml()["Outputs"];
    assert_eq!(outputs["DateroUrl"]["Condition"].as_str(), Some("IsPublic"));
    assert_eq!(
        outputs["OpenUiCommand"]["Condition"].as_str(),
        Some("IsPrivate")
    );
    assert!(template.condition("IsPrivate", &stack).unwrap());
    let command = template
        .resolve(&outputs["OpenUiCommand"]["Value"], &stack)
        .unwrap()
        .unwrap();
    let command = command.as_str().unwrap();
    assert!(command.starts_with("aws ssm start-session"), "{command}");
    assert!(
        command.contains("portNumber=80,localPortNumber=8080"),
        "{command}"
    );
    assert!(
        command.contains(&format!("Values={STACK}-datero")),
        "finds the current instance of the group: {command}"
    );
}
