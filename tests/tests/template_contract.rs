//! template.yaml against ../shared/CONTRACT.md and the functions' own parsers: a typo in the
//! template fails here, not in a deployment.

use std::collections::BTreeMap;

use datero_shared::resources::cluster::ClusterSpec;
use datero_shared::resources::task::TaskSpec;
use datero_shared::resources::task_definition::{Persistence, TaskDefinitionSpec};
use datero_testbed::workspace_root;
use serde_json::{Value as Json, json};
use serde_yaml::Value as Yaml;

const STACK: &str = "teststack";

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml"))
        .expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn resources(template: &Yaml) -> &serde_yaml::Mapping {
    template["Resources"].as_mapping().expect("Resources")
}

fn of_type<'a>(template: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    resources(template)
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(name, resource)| (name.as_str().unwrap(), resource))
        .collect()
}

/// Attributes each custom resource returns (CONTRACT.md), for `Fn::GetAtt` checks.
fn returned_data(kind: &str) -> &'static [&'static str] {
    match kind {
        "Custom::DateroCluster" => &["ClusterName", "ClusterArn", "CapacityProviderName"],
        "Custom::DateroTaskDefinition" => &["TaskDefinitionArn", "Family", "Revision"],
        "Custom::DateroTask" => &["TaskArn", "Url"],
        _ => &[],
    }
}

/// Resolves intrinsic functions to plausible values, as CloudFormation would for a stack named
/// `teststack` with the given `DataPersistence`.
struct Resolver<'a> {
    template: &'a Yaml,
    persistence: &'a str,
}

impl Resolver<'_> {
    fn resolve(&self, value: &Yaml) -> Option<Json> {
        match value {
            Yaml::Tagged(tagged) => self.intrinsic(&tagged.tag.to_string(), &tagged.value),
            Yaml::Mapping(map) if map.len() == 1 => {
                let (key, inner) = map.iter().next().unwrap();
                match key.as_str() {
                    Some(name) if name == "Ref" || name.starts_with("Fn::") => {
                        self.intrinsic(&format!("!{}", name.trim_start_matches("Fn::")), inner)
                    }
                    _ => Some(serde_json::to_value(value).unwrap()),
                }
            }
            Yaml::String(text) => Some(json!(text)),
            Yaml::Number(number) => Some(json!(number.to_string())),
            Yaml::Bool(flag) => Some(json!(flag.to_string())),
            other => Some(serde_json::to_value(other).unwrap()),
        }
    }

    fn intrinsic(&self, tag: &str, argument: &Yaml) -> Option<Json> {
        match tag {
            "!Ref" => self.reference(argument.as_str().unwrap()),
            "!Sub" => Some(json!(
                self.substitute(argument.as_str().expect("one-argument !Sub"))
            )),
            "!GetAtt" => Some(json!(self.attribute(argument.as_str().unwrap()))),
            "!If" => {
                let items = argument.as_sequence().unwrap();
                let branch = if self.condition(items[0].as_str().unwrap()) {
                    &items[1]
                } else {
                    &items[2]
                };
                self.resolve(branch)
            }
            other => panic!("intrinsic {other} is not modelled by this test"),
        }
    }

    fn condition(&self, name: &str) -> bool {
        match name {
            "UseEfs" => self.persistence == "efs",
            "UseInstanceDisk" => self.persistence == "instance",
            other => panic!("condition {other} is not modelled by this test"),
        }
    }

    fn reference(&self, name: &str) -> Option<Json> {
        if name == "AWS::NoValue" {
            return None;
        }
        if let Some(parameter) = self.template["Parameters"].get(name) {
            return Some(json!(
                parameter["Default"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{name}-value"))
            ));
        }
        let kind = resources(self.template)
            .get(name)
            .unwrap_or_else(|| panic!("!Ref {name}: no such parameter or resource"))["Type"]
            .as_str()
            .unwrap();
        Some(json!(match kind {
            "AWS::EFS::FileSystem" => "fs-0123456789abcdef0".to_owned(),
            "AWS::SecretsManager::Secret" =>
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:pw-AbCdEf".to_owned(),
            "AWS::Logs::LogGroup" => format!("/datero/{STACK}"),
            "AWS::AutoScaling::AutoScalingGroup" => format!("{STACK}-datero"),
            "AWS::SQS::Queue" => "https://sqs.us-east-1.amazonaws.com/123456789012/q".to_owned(),
            other => format!("{other}-ref"),
        }))
    }

    fn attribute(&self, path: &str) -> String {
        let (name, attribute) = path.split_once('.').unwrap();
        let resource = &resources(self.template)[name];
        let kind = resource["Type"].as_str().unwrap();
        if kind.starts_with("Custom::Datero") {
            assert!(
                returned_data(kind).contains(&attribute),
                "!GetAtt {path}: {kind} returns no {attribute}"
            );
            return match attribute {
                "ClusterName" => format!("{STACK}-datero"),
                "CapacityProviderName" => format!("datero-{STACK}-ec2"),
                "ClusterArn" => {
                    format!("arn:aws:ecs:us-east-1:123456789012:cluster/{STACK}-datero")
                }
                "TaskDefinitionArn" => {
                    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{STACK}-datero:1")
                }
                "Family" => format!("{STACK}-datero"),
                other => format!("{other}-value"),
            };
        }
        match (kind, attribute) {
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::123456789012:role/{name}"),
            _ => format!("arn:aws:test:us-east-1:123456789012:{name}/{attribute}"),
        }
    }

    fn substitute(&self, text: &str) -> String {
        text.replace("${AWS::StackName}", STACK)
            .replace("${AWS::Region}", "us-east-1")
            .replace("${AWS::AccountId}", "123456789012")
            .replace("${AWS::Partition}", "aws")
    }

    /// A custom resource's properties as CloudFormation would send them.
    fn properties(&self, resource: &Yaml) -> Json {
        let mut properties = serde_json::Map::new();
        for (key, value) in resource["Properties"].as_mapping().unwrap() {
            if let Some(resolved) = self.resolve(value) {
                properties.insert(key.as_str().unwrap().to_owned(), resolved);
            }
        }
        Json::Object(properties)
    }
}

const PERSISTENCE: [&str; 3] = ["efs", "instance", "none"];

#[test]
fn every_custom_resource_is_accepted_by_its_function_parser() {
    let template = template();
    let mut seen = BTreeMap::new();
    for persistence in PERSISTENCE {
        let resolver = Resolver {
            template: &template,
            persistence,
        };
        for (name, resource) in of_type(&template, "Custom::DateroCluster") {
            let spec = ClusterSpec::parse(&resolver.properties(resource), STACK)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!spec.capacity_provider_name.is_empty());
            *seen.entry("cluster").or_insert(0) += 1;
        }
        for (name, resource) in of_type(&template, "Custom::DateroTaskDefinition") {
            let spec = TaskDefinitionSpec::parse(&resolver.properties(resource))
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
            *seen.entry("task-definition").or_insert(0) += 1;
        }
        for (name, resource) in of_type(&template, "Custom::DateroTask") {
            TaskSpec::parse(&resolver.properties(resource))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            *seen.entry("task").or_insert(0) += 1;
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([("cluster", 3), ("task", 3), ("task-definition", 3)]),
        "one of each resource"
    );
}

#[test]
fn every_custom_resource_has_a_service_timeout_and_a_function_of_this_workspace() {
    let template = template();
    for kind in [
        "Custom::DateroCluster",
        "Custom::DateroTaskDefinition",
        "Custom::DateroTask",
    ] {
        for (name, resource) in of_type(&template, kind) {
            let timeout = resource["Properties"]["ServiceTimeout"]
                .as_u64()
                .unwrap_or(0);
            assert!(
                (60..=3600).contains(&timeout),
                "{name}: ServiceTimeout {timeout}"
            );
            let token = &resource["Properties"]["ServiceToken"];
            let Yaml::Tagged(tagged) = token else {
                panic!("{name}: ServiceToken must be !GetAtt <Function>.Arn")
            };
            let function = tagged.value.as_str().unwrap().trim_end_matches(".Arn");
            let function_timeout = resources(&template)[function]["Properties"]["Timeout"]
                .as_u64()
                .unwrap();
            assert!(
                timeout > function_timeout,
                "{name}: ServiceTimeout must outlast the function's Timeout"
            );
        }
    }
    for (name, function) in of_type(&template, "AWS::Serverless::Function") {
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
fn the_restarter_environment_and_rule_match_the_contract() {
    let template = template();
    let resolver = Resolver {
        template: &template,
        persistence: "efs",
    };
    let restarter = &resources(&template)["TaskRestarterFunction"];
    let variables = restarter["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    let env: BTreeMap<String, Json> = variables
        .iter()
        .map(|(key, value)| {
            (
                key.as_str().unwrap().to_owned(),
                resolver.resolve(value).unwrap(),
            )
        })
        .collect();
    for required in ["CLUSTER_NAME", "CAPACITY_PROVIDER_NAME", "TASK_FAMILY"] {
        assert!(env.contains_key(required), "{required} missing");
    }
    for name in env.keys() {
        assert!(
            [
                "CLUSTER_NAME",
                "CAPACITY_PROVIDER_NAME",
                "TASK_FAMILY",
                "RESTART_QUEUE_URL",
                "RESTARTS_PAUSED"
            ]
            .contains(&name.as_str()),
            "unexpected variable {name}"
        );
    }
    assert_eq!(env["CLUSTER_NAME"], json!(format!("{STACK}-datero")));
    assert_eq!(
        env["CAPACITY_PROVIDER_NAME"],
        json!(format!("datero-{STACK}-ec2"))
    );
    assert_eq!(env["TASK_FAMILY"], json!(format!("{STACK}-datero")));

    let rules = of_type(&template, "AWS::Events::Rule");
    assert_eq!(rules.len(), 1);
    let pattern = &rules[0].1["Properties"]["EventPattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.ecs"));
    assert_eq!(
        pattern["detail-type"][0].as_str(),
        Some("ECS Task State Change")
    );
    assert_eq!(pattern["detail"]["lastStatus"][0].as_str(), Some("STOPPED"));
    assert_eq!(
        resolver.resolve(&pattern["detail"]["clusterArn"][0]),
        Some(json!(resolver.attribute("Cluster.ClusterArn")))
    );
    let family = resolver
        .resolve(&resources(&template)["TaskDefinition"]["Properties"]["Family"])
        .unwrap();
    assert_eq!(
        resolver.resolve(&pattern["detail"]["group"][0]),
        Some(json!(format!("family:{}", family.as_str().unwrap())))
    );
    let target = &rules[0].1["Properties"]["Targets"][0];
    assert!(target["RetryPolicy"].is_mapping() && target["DeadLetterConfig"].is_mapping());
    assert_eq!(
        restarter["Properties"]["ReservedConcurrentExecutions"].as_u64(),
        Some(1)
    );
}

#[test]
fn no_secret_default_and_no_open_ingress() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    assert!(
        !text.contains("POSTGRES_PASSWORD:"),
        "the password never appears as a value"
    );
    let template = template();
    assert!(
        template["Parameters"]["AllowedCidr"]
            .get("Default")
            .is_none(),
        "no silent 0.0.0.0/0"
    );
    for (name, group) in of_type(&template, "AWS::EC2::SecurityGroup") {
        for rule in group["Properties"]["SecurityGroupIngress"]
            .as_sequence()
            .unwrap()
        {
            assert_ne!(
                rule["CidrIp"].as_str(),
                Some("0.0.0.0/0"),
                "{name} is open to the world"
            );
        }
    }
}
