//! template.yaml read as CloudFormation would read it: intrinsic functions resolved against a
//! stack's parameters and the values of the resources made so far.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use serde_norway::Value as Yaml;

use crate::emulator::ACCOUNT;
use crate::workspace_root;

/// The parsed template.
pub struct Template {
    yaml: Yaml,
}

/// What a stack knows while it is being made: its name, parameters, and resource values.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub name: String,
    /// `AWS::StackId`, the ARN CloudFormation sends as `StackId`.
    pub id: String,
    pub region: String,
    pub account: String,
    /// Parameter overrides; the template's defaults fill the rest.
    pub parameters: BTreeMap<String, Json>,
    /// `Ref` of resources made so far.
    pub refs: BTreeMap<String, String>,
    /// `Fn::GetAtt` of resources made so far, keyed `Resource.Attribute`.
    pub attributes: BTreeMap<String, String>,
}

impl Stack {
    /// A stack named `name` in which every resource of `template` exists with a plausible
    /// value, and required parameters have sample values: enough to resolve and check every
    /// custom resource's properties before anything is made.
    #[expect(
        clippy::too_many_lines,
        reason = "a table of placeholder values, one line per resource type"
    )]
    pub fn placeholder(template: &Template, name: &str) -> Self {
        let mut stack = Stack {
            name: name.to_owned(),
            // The shared fixtures' stack id, for a stack of this name.
            id: format!(
                "arn:aws:cloudformation:us-east-1:111122223333:stack/{name}/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
            ),
            region: "us-east-1".to_owned(),
            account: ACCOUNT.to_owned(),
            ..Stack::default()
        };
        for (parameter, value) in [
            ("SubnetIds", json!(["subnet-0a", "subnet-0b"])),
            ("VpcId", json!("vpc-01")),
            ("AllowedCidr", json!("203.0.113.0/24")),
        ] {
            stack.parameters.insert(parameter.to_owned(), value);
        }
        for (resource, definition) in template.yaml["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            let resource = resource.as_str().unwrap_or_default();
            let value = match definition["Type"].as_str().unwrap_or_default() {
                "AWS::EFS::FileSystem" => "fs-0123456789abcdef0".to_owned(),
                "AWS::SecretsManager::Secret" => {
                    format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{resource}-AbCdEf")
                }
                "AWS::Logs::LogGroup" => format!("/datero/{name}/{resource}"),
                "AWS::AutoScaling::AutoScalingGroup" => format!("{name}-datero"),
                // CloudFormation names a bucket `<stack>-<logical id>-<random>`, in lower case.
                "AWS::S3::Bucket" => format!("{name}-{resource}-1a2b3c").to_ascii_lowercase(),
                // The revision's ARN; the family as the template names it
                // (`<stack>-datero-backup` for BackupTaskDefinition).
                "AWS::ECS::TaskDefinition" => format!(
                    "arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{name}-datero-{}:1",
                    resource
                        .trim_end_matches("TaskDefinition")
                        .to_ascii_lowercase()
                ),
                other => format!("{other}-{resource}"),
            };
            let arn = match definition["Type"].as_str().unwrap_or_default() {
                "AWS::SQS::Queue" => {
                    format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{name}-{resource}")
                }
                "AWS::Logs::LogGroup" => {
                    format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{value}")
                }
                "AWS::Events::Rule" => {
                    format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/{name}-{resource}")
                }
                "AWS::Serverless::Function" => {
                    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}-{resource}")
                }
                "AWS::S3::Bucket" => format!("arn:aws:s3:::{value}"),
                "AWS::EFS::FileSystem" => {
                    format!("arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:file-system/{value}")
                }
                _ => format!("arn:aws:iam::{ACCOUNT}:role/{resource}"),
            };
            if definition["Type"].as_str() == Some("AWS::EC2::SecurityGroup") {
                stack.attributes.insert(
                    format!("{resource}.GroupId"),
                    "sg-0123456789abcdef0".to_owned(),
                );
            }
            stack.refs.insert(resource.to_owned(), value);
            stack.attributes.insert(format!("{resource}.Arn"), arn);
        }
        stack
            .refs
            .insert("Eip".to_owned(), "203.0.113.10".to_owned());
        let cluster = format!("{name}-datero");
        for (key, value) in [
            ("Eip.AllocationId", "eipalloc-0123456789abcdef0".to_owned()),
            ("Cluster.ClusterName", cluster.clone()),
            ("Cluster.CapacityProviderName", format!("datero-{name}-ec2")),
            (
                "Cluster.ClusterArn",
                format!("arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{cluster}"),
            ),
            (
                "TaskDefinition.TaskDefinitionArn",
                format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{cluster}:1"),
            ),
            ("TaskDefinition.Family", cluster.clone()),
            ("LaunchTemplate.LatestVersionNumber", "1".to_owned()),
            ("Edge.PrefixListId", "pl-0123456789abcdef0".to_owned()),
            (
                "Edge.OriginDomain",
                "ec2-203-0-113-10.compute-1.amazonaws.com".to_owned(),
            ),
            // The shape of datero_shared::edge::credential_sha256's answer.
            ("Edge.CredentialSha256", "0".repeat(64)),
            (
                "Edge.SecretVersionId",
                "a1b2c3d4-5e6f-4a8b-9c0d-1e2f3a4b5c6d".to_owned(),
            ),
            (
                "SignInFunction.FunctionARN",
                format!("arn:aws:cloudfront::{ACCOUNT}:function/datero-sign-in"),
            ),
            (
                "Distribution.DomainName",
                "d111111abcdef8.cloudfront.net".to_owned(),
            ),
        ] {
            stack.attributes.insert(key.to_owned(), value);
        }
        stack
    }
}

impl Stack {
    /// The same stack with these parameter overrides (`Name`, `value`).
    pub fn with(mut self, parameters: &[(&str, &str)]) -> Self {
        for (name, value) in parameters {
            self.parameters.insert((*name).to_owned(), json!(value));
        }
        self
    }
}

impl Template {
    /// Reads the workspace's template.yaml.
    pub fn load() -> Result<Self, String> {
        let path = workspace_root().join("template.yaml");
        let text = std::fs::read_to_string(&path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        Self::parse(&text).map_err(|error| format!("template.yaml: {error}"))
    }

    /// A template from its YAML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let yaml = serde_norway::from_str(text).map_err(|error| error.to_string())?;
        Ok(Self { yaml })
    }

    pub fn yaml(&self) -> &Yaml {
        &self.yaml
    }

    /// The resource `name`'s definition.
    pub fn resource(&self, name: &str) -> &Yaml {
        &self.yaml["Resources"][name]
    }

    /// Names of the resources of type `kind`.
    pub fn resources_of(&self, kind: &str) -> Vec<String> {
        self.yaml["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
            .filter_map(|(name, _)| name.as_str().map(str::to_owned))
            .collect()
    }

    /// The custom resources in an order CloudFormation could create them (dependencies first).
    pub fn custom_resources_in_order(&self) -> Vec<String> {
        let custom: Vec<String> = self.yaml["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(_, resource)| {
                resource["Type"]
                    .as_str()
                    .is_some_and(|kind| kind.starts_with("Custom::"))
            })
            .filter_map(|(name, _)| name.as_str().map(str::to_owned))
            .collect();
        let mut ordered: Vec<String> = Vec::new();
        while ordered.len() < custom.len() {
            let before = ordered.len();
            for name in &custom {
                let ready = self
                    .custom_dependencies(name, &custom)
                    .iter()
                    .all(|dependency| ordered.contains(dependency));
                if !ordered.contains(name) && ready {
                    ordered.push(name.clone());
                }
            }
            assert!(ordered.len() > before, "dependency cycle among {custom:?}");
        }
        ordered
    }

    /// The custom resources `name` waits for, directly or through other resources (DateroTask
    /// waits for MountTargets through StorageReady).
    fn custom_dependencies(&self, name: &str, custom: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        let mut seen = vec![name.to_owned()];
        let mut queue = self.dependencies(name);
        while let Some(next) = queue.pop() {
            if seen.contains(&next) || self.resource(&next).is_null() {
                continue;
            }
            seen.push(next.clone());
            if custom.contains(&next) {
                found.push(next);
            } else {
                queue.extend(self.dependencies(&next));
            }
        }
        found
    }

    /// Resources `name` refers to (Ref, GetAtt, Sub in its properties or metadata; DependsOn).
    pub fn dependencies(&self, name: &str) -> Vec<String> {
        let resource = self.resource(name);
        let mut found = Vec::new();
        collect_references(&resource["Properties"], &mut found);
        collect_references(&resource["Metadata"], &mut found);
        match &resource["DependsOn"] {
            Yaml::String(one) => found.push(one.clone()),
            Yaml::Sequence(many) => {
                found.extend(many.iter().filter_map(|v| v.as_str().map(str::to_owned)))
            }
            _ => {}
        }
        found.sort();
        found.dedup();
        found
    }

    /// A parameter's value: the override, else the template's default.
    pub fn parameter(&self, name: &str, stack: &Stack) -> Result<Json, String> {
        let definition = &self.yaml["Parameters"][name];
        let value = match stack.parameters.get(name) {
            Some(value) => value.clone(),
            None => match &definition["Default"] {
                Yaml::Null => return Err(format!("parameter {name} has no value and no default")),
                // A Number parameter is a string wherever the template uses it (CloudFormation
                // User Guide, "Parameters", Number).
                Yaml::Number(number) => json!(number.to_string()),
                default => to_json(default),
            },
        };
        // A list parameter given as text ("a,b,c") is a list to !Ref and !Select.
        let is_list = definition["Type"]
            .as_str()
            .is_some_and(|kind| kind == "CommaDelimitedList" || kind.starts_with("List<"));
        Ok(match value {
            Json::String(text) if is_list => {
                Json::Array(text.split(',').map(|item| json!(item.trim())).collect())
            }
            other => other,
        })
    }

    /// Checks overrides against the parameters' `AllowedValues` and `AllowedPattern` (which,
    /// as in CloudFormation, must match the whole value).
    pub fn check_parameters(&self, stack: &Stack) -> Result<(), String> {
        for (name, value) in &stack.parameters {
            let definition = &self.yaml["Parameters"][name.as_str()];
            if definition.is_null() {
                return Err(format!("unknown parameter {name}"));
            }
            if let Some(allowed) = definition["AllowedValues"].as_sequence() {
                // Every parameter value is text to CloudFormation: 30 and "30" are one value.
                let text = |value: &Json| {
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned)
                };
                let allowed: Vec<Json> = allowed.iter().map(to_json).collect();
                if !allowed.iter().any(|choice| text(choice) == text(value)) {
                    return Err(format!(
                        "parameter {name} must be one of {}",
                        Json::Array(allowed)
                    ));
                }
            }
            if let Some(pattern) = definition["AllowedPattern"].as_str() {
                let whole = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|error| format!("parameter {name}: AllowedPattern: {error}"))?;
                let text = value.as_str().unwrap_or_default();
                if !whole.is_match(text) {
                    let why = definition["ConstraintDescription"]
                        .as_str()
                        .unwrap_or(pattern);
                    return Err(format!("parameter {name} must be {why}, got {text:?}"));
                }
            }
        }
        Ok(())
    }

    /// Whether `resource` exists in this stack (its `Condition`, if any, holds).
    pub fn exists(&self, resource: &str, stack: &Stack) -> Result<bool, String> {
        match self.resource(resource)["Condition"].as_str() {
            Some(condition) => self.condition(condition, stack),
            None => Ok(!self.resource(resource).is_null()),
        }
    }

    /// Checks the template's `Rules` as CloudFormation does before it makes anything: for each
    /// rule whose `RuleCondition` holds, every `Assert`; the first that fails is refused with
    /// its `AssertDescription`.
    pub fn check_rules(&self, stack: &Stack) -> Result<(), String> {
        for (name, rule) in self.yaml["Rules"].as_mapping().into_iter().flatten() {
            let applies = match &rule["RuleCondition"] {
                Yaml::Null => true,
                condition => self.truth(condition, stack)?,
            };
            if !applies {
                continue;
            }
            for assertion in rule["Assertions"].as_sequence().into_iter().flatten() {
                if !self.truth(&assertion["Assert"], stack)? {
                    return Err(format!(
                        "rule {}: {}",
                        name.as_str().unwrap_or_default(),
                        assertion["AssertDescription"]
                            .as_str()
                            .unwrap_or("assertion failed")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the named condition holds for this stack.
    pub fn condition(&self, name: &str, stack: &Stack) -> Result<bool, String> {
        let definition = &self.yaml["Conditions"][name];
        if definition.is_null() {
            return Err(format!("no condition {name}"));
        }
        self.truth(definition, stack)
    }

    fn truth(&self, value: &Yaml, stack: &Stack) -> Result<bool, String> {
        let (function, argument) =
            intrinsic(value).ok_or_else(|| format!("not a condition: {value:?}"))?;
        let items = || argument.as_sequence().cloned().unwrap_or_default();
        match function.as_str() {
            "Equals" => {
                let items = items();
                Ok(self.resolve(&items[0], stack)? == self.resolve(&items[1], stack)?)
            }
            "Not" => Ok(!self.truth(&items()[0], stack)?),
            "And" => items()
                .iter()
                .try_fold(true, |all, item| Ok(all && self.truth(item, stack)?)),
            "Or" => items()
                .iter()
                .try_fold(false, |any, item| Ok(any || self.truth(item, stack)?)),
            "Condition" => self.condition(argument.as_str().unwrap_or_default(), stack),
            // Rules only: every member of the first list is one of the second's.
            "EachMemberIn" => {
                let items = items();
                let members = self.list(&items[0], stack)?;
                let allowed = self.list(&items[1], stack)?;
                Ok(members.iter().all(|member| allowed.contains(member)))
            }
            other => Err(format!("condition function {other} is not modelled")),
        }
    }

    fn list(&self, value: &Yaml, stack: &Stack) -> Result<Vec<Json>, String> {
        match self.resolve(value, stack)? {
            Some(Json::Array(items)) => Ok(items),
            other => Err(format!("not a list: {other:?}")),
        }
    }

    /// A value with every intrinsic function resolved; `None` for `AWS::NoValue`.
    pub fn resolve(&self, value: &Yaml, stack: &Stack) -> Result<Option<Json>, String> {
        let Some((function, argument)) = intrinsic(value) else {
            return self.resolve_plain(value, stack).map(Some);
        };
        let items = argument.as_sequence().cloned().unwrap_or_default();
        match function.as_str() {
            "Ref" => self.reference(argument.as_str().unwrap_or_default(), stack),
            "GetAtt" => get_att(&argument, stack).map(Some),
            "Sub" => {
                let text = argument
                    .as_str()
                    .ok_or("only one-argument !Sub is modelled")?;
                Ok(Some(json!(self.substitute(text, stack)?)))
            }
            "If" => {
                let chosen = self.condition(items[0].as_str().unwrap_or_default(), stack)?;
                self.resolve(&items[if chosen { 1 } else { 2 }], stack)
            }
            "Join" => self.join(&items, stack).map(Some),
            "Split" => self.split(&items, stack).map(Some),
            "Select" => self.select(&items, stack).map(Some),
            // Kept as plain text, so that tests can read what the instance would run.
            "Base64" => self.resolve(&argument, stack),
            other => Err(format!("intrinsic {other} is not modelled")),
        }
    }

    /// A list, a map or a scalar without an intrinsic at its top: scalars as CloudFormation sends
    /// them to a custom resource (numbers and booleans as strings), `AWS::NoValue` left out.
    fn resolve_plain(&self, value: &Yaml, stack: &Stack) -> Result<Json, String> {
        Ok(match value {
            Yaml::Sequence(items) => {
                let mut list = Vec::new();
                for item in items {
                    list.extend(self.resolve(item, stack)?);
                }
                Json::Array(list)
            }
            Yaml::Mapping(map) => {
                let mut object = serde_json::Map::new();
                for (key, inner) in map {
                    if let Some(resolved) = self.resolve(inner, stack)? {
                        object.insert(key.as_str().unwrap_or_default().to_owned(), resolved);
                    }
                }
                Json::Object(object)
            }
            Yaml::Number(number) => json!(number.to_string()),
            Yaml::Bool(flag) => json!(flag.to_string()),
            other => to_json(other),
        })
    }

    fn join(&self, items: &[Yaml], stack: &Stack) -> Result<Json, String> {
        let separator = items[0].as_str().unwrap_or_default();
        let parts = match self.resolve(&items[1], stack)? {
            Some(Json::Array(parts)) => parts,
            _ => Vec::new(),
        };
        let parts: Vec<&str> = parts
            .iter()
            .map(|part| part.as_str().unwrap_or_default())
            .collect();
        Ok(json!(parts.join(separator)))
    }

    fn split(&self, items: &[Yaml], stack: &Stack) -> Result<Json, String> {
        let separator = items[0].as_str().unwrap_or_default();
        let whole = self.resolve(&items[1], stack)?.unwrap_or_default();
        let whole = whole.as_str().unwrap_or_default();
        Ok(Json::Array(
            whole.split(separator).map(|part| json!(part)).collect(),
        ))
    }

    fn select(&self, items: &[Yaml], stack: &Stack) -> Result<Json, String> {
        let index: usize = items[0]
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .or_else(|| items[0].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        match self.resolve(&items[1], stack)? {
            Some(Json::Array(list)) => list
                .get(index)
                .cloned()
                .ok_or_else(|| format!("!Select {index}: out of range")),
            _ => Err("!Select of a non-list".to_owned()),
        }
    }

    fn reference(&self, name: &str, stack: &Stack) -> Result<Option<Json>, String> {
        match name {
            "AWS::NoValue" => Ok(None),
            "AWS::StackName" => Ok(Some(json!(stack.name))),
            "AWS::StackId" => Ok(Some(json!(stack.id))),
            "AWS::Region" => Ok(Some(json!(stack.region))),
            "AWS::AccountId" => Ok(Some(json!(stack.account))),
            "AWS::Partition" => Ok(Some(json!("aws"))),
            _ if !self.yaml["Parameters"][name].is_null() => self.parameter(name, stack).map(Some),
            _ => stack
                .refs
                .get(name)
                .map(|value| Some(json!(value)))
                .ok_or_else(|| format!("!Ref {name}: not made yet")),
        }
    }

    fn substitute(&self, text: &str, stack: &Stack) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or("unclosed ${ in !Sub")? + start;
            let name = &rest[start + 2..end];
            let value = match name.split_once('.') {
                Some(_) if !name.starts_with("AWS::") => {
                    json!(
                        stack
                            .attributes
                            .get(name)
                            .ok_or_else(|| format!("${{{name}}}: not made yet"))?
                    )
                }
                _ => self.reference(name, stack)?.unwrap_or(Json::Null),
            };
            out.push_str(value.as_str().unwrap_or_default());
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The resource's `Properties` as CloudFormation would send them to a custom resource.
    pub fn properties(&self, name: &str, stack: &Stack) -> Result<Json, String> {
        let mut properties = serde_json::Map::new();
        for (key, value) in self.resource(name)["Properties"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap_or_default().to_owned();
            if let Some(resolved) = self
                .resolve(value, stack)
                .map_err(|error| format!("{name}.{key}: {error}"))?
            {
                properties.insert(key, resolved);
            }
        }
        Ok(Json::Object(properties))
    }
}

/// `!GetAtt Resource.Attribute` (or its list form), from the values made so far.
fn get_att(argument: &Yaml, stack: &Stack) -> Result<Json, String> {
    let path = argument.as_str().map(str::to_owned).unwrap_or_else(|| {
        argument
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(".")
    });
    stack
        .attributes
        .get(&path)
        .map(|value| json!(value))
        .ok_or_else(|| format!("!GetAtt {path}: not made yet"))
}

/// `(function, argument)` of an intrinsic, in short (`!Ref`) or long (`Ref:`, `Fn::Sub:`) form.
fn intrinsic(value: &Yaml) -> Option<(String, Yaml)> {
    match value {
        Yaml::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            tagged.value.clone(),
        )),
        Yaml::Mapping(map) if map.len() == 1 => {
            let (key, argument) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key == "Condition" || key.starts_with("Fn::"))
                .then(|| (key.trim_start_matches("Fn::").to_owned(), argument.clone()))
        }
        _ => None,
    }
}

fn collect_references(value: &Yaml, found: &mut Vec<String>) {
    if let Some((function, argument)) = intrinsic(value) {
        match function.as_str() {
            "Ref" => found.extend(argument.as_str().map(str::to_owned)),
            "GetAtt" => found.extend(
                argument
                    .as_str()
                    .and_then(|path| path.split('.').next())
                    .map(str::to_owned),
            ),
            "Sub" => {
                let text = argument.as_str().unwrap_or_default();
                for piece in text.split("${").skip(1) {
                    let name = piece.split('}').next().unwrap_or_default();
                    found.push(name.split('.').next().unwrap_or_default().to_owned());
                }
            }
            _ => collect_references(&argument, found),
        }
        return;
    }
    match value {
        Yaml::Mapping(map) => map
            .values()
            .for_each(|inner| collect_references(inner, found)),
        Yaml::Sequence(items) => items
            .iter()
            .for_each(|inner| collect_references(inner, found)),
        _ => {}
    }
}

fn to_json(value: &Yaml) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Stack, Template, Yaml};

    const TEXT: &str = r#"
Parameters:
  Mode: { Type: String, Default: efs }
  Subnets: { Type: CommaDelimitedList }
  Types: { Type: CommaDelimitedList, Default: "x,y" }
  Size: { Type: Number, Default: 2, AllowedValues: [1, 2] }
  Tag: { Type: String, Default: "", AllowedPattern: "^[a-z]*$" }
Conditions:
  IsEfs: !Equals [!Ref Mode, efs]
  NotEfs: !Not [!Condition IsEfs]
  EfsAndSized: !And [!Condition IsEfs, !Equals [!Ref Size, 2]]
  EitherMode: !Or [!Condition IsEfs, !Condition NotEfs]
Resources:
  Queue: { Type: AWS::SQS::Queue }
  Disk:
    Type: AWS::EFS::FileSystem
    Condition: IsEfs
"#;

    fn bed() -> (Template, Stack) {
        let template = Template::parse(TEXT).unwrap();
        let mut stack = Stack {
            name: "s".into(),
            id: "arn:aws:cloudformation:eu-west-1:111122223333:stack/s/1".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
            ..Stack::default()
        };
        stack.parameters.insert("Subnets".into(), json!(["a", "b"]));
        stack.refs.insert("Queue".into(), "https://q".into());
        stack.attributes.insert("Queue.Arn".into(), "arn:q".into());
        (template, stack)
    }

    fn resolve(text: &str) -> Result<Option<serde_json::Value>, String> {
        let (template, stack) = bed();
        let value: Yaml = serde_norway::from_str(text).unwrap();
        template.resolve(&value, &stack)
    }

    #[test]
    fn ref_reads_parameters_with_defaults_pseudo_parameters_and_resources() {
        assert_eq!(resolve("!Ref Mode").unwrap(), Some(json!("efs")));
        assert_eq!(resolve("!Ref Subnets").unwrap(), Some(json!(["a", "b"])));
        assert_eq!(resolve("!Ref Types").unwrap(), Some(json!(["x", "y"])));
        assert_eq!(
            resolve("!Ref AWS::Region").unwrap(),
            Some(json!("eu-west-1"))
        );
        assert_eq!(resolve("!Ref AWS::StackName").unwrap(), Some(json!("s")));
        assert_eq!(resolve("!Ref Queue").unwrap(), Some(json!("https://q")));
        assert_eq!(resolve("{Ref: Queue}").unwrap(), Some(json!("https://q")));
        assert_eq!(resolve("!Ref AWS::NoValue").unwrap(), None);
        assert!(
            resolve("!Ref Missing")
                .unwrap_err()
                .contains("not made yet")
        );
    }

    #[test]
    fn get_att_takes_both_forms_and_refuses_what_is_not_made() {
        assert_eq!(resolve("!GetAtt Queue.Arn").unwrap(), Some(json!("arn:q")));
        assert_eq!(
            resolve("!GetAtt [Queue, Arn]").unwrap(),
            Some(json!("arn:q"))
        );
        assert_eq!(
            resolve("{'Fn::GetAtt': [Queue, Arn]}").unwrap(),
            Some(json!("arn:q"))
        );
        assert!(
            resolve("!GetAtt Disk.Arn")
                .unwrap_err()
                .contains("not made yet")
        );
    }

    #[test]
    fn sub_replaces_references_attributes_and_pseudo_parameters() {
        assert_eq!(
            resolve("!Sub \"${AWS::AccountId}:${Queue}:${Queue.Arn}:${Mode}\"").unwrap(),
            Some(json!("111122223333:https://q:arn:q:efs"))
        );
        assert!(
            resolve("!Sub \"${Queue\"")
                .unwrap_err()
                .contains("unclosed")
        );
    }

    #[test]
    fn if_picks_a_branch_by_its_condition_and_no_value_drops_list_items() {
        assert_eq!(resolve("!If [IsEfs, yes, no]").unwrap(), Some(json!("yes")));
        assert_eq!(resolve("!If [NotEfs, yes, no]").unwrap(), Some(json!("no")));
        assert_eq!(
            resolve("[one, !If [NotEfs, two, !Ref AWS::NoValue], three]").unwrap(),
            Some(json!(["one", "three"]))
        );
        assert_eq!(
            resolve("{A: !If [NotEfs, x, !Ref AWS::NoValue], B: b}").unwrap(),
            Some(json!({"B": "b"}))
        );
    }

    #[test]
    fn join_split_and_select() {
        assert_eq!(
            resolve("!Join [\"-\", [a, !Ref Mode]]").unwrap(),
            Some(json!("a-efs"))
        );
        assert_eq!(
            resolve("!Split [\",\", \"x,y\"]").unwrap(),
            Some(json!(["x", "y"]))
        );
        assert_eq!(
            resolve("!Select [1, !Ref Subnets]").unwrap(),
            Some(json!("b"))
        );
        assert_eq!(
            resolve("!Select [\"0\", [p, q]]").unwrap(),
            Some(json!("p"))
        );
        assert!(
            resolve("!Select [5, [p]]")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            resolve("!Select [0, plain]")
                .unwrap_err()
                .contains("non-list")
        );
    }

    #[test]
    fn scalars_become_strings_as_cloudformation_sends_them() {
        assert_eq!(resolve("7").unwrap(), Some(json!("7")));
        assert_eq!(resolve("true").unwrap(), Some(json!("true")));
        assert_eq!(resolve("!Base64 plain").unwrap(), Some(json!("plain")));
    }

    #[test]
    fn unknown_intrinsics_are_refused_by_name() {
        assert_eq!(
            resolve("!FindInMap [m, k, v]").unwrap_err(),
            "intrinsic FindInMap is not modelled"
        );
    }

    #[test]
    fn conditions_combine_and_decide_which_resources_exist() {
        let (template, mut stack) = bed();
        assert!(template.condition("EfsAndSized", &stack).unwrap());
        assert!(template.condition("EitherMode", &stack).unwrap());
        assert!(template.exists("Disk", &stack).unwrap());
        stack.parameters.insert("Mode".into(), json!("none"));
        assert!(!template.condition("EfsAndSized", &stack).unwrap());
        assert!(!template.exists("Disk", &stack).unwrap());
        assert!(template.exists("Queue", &stack).unwrap());
    }

    #[test]
    fn parameters_are_checked_against_allowed_values_and_patterns() {
        let (template, mut stack) = bed();
        template.check_parameters(&stack).unwrap();
        stack.parameters.insert("Size".into(), json!("3"));
        assert!(
            template
                .check_parameters(&stack)
                .unwrap_err()
                .contains("Size")
        );
        stack.parameters.insert("Size".into(), json!("1"));
        stack.parameters.insert("Tag".into(), json!("UPPER"));
        assert!(
            template
                .check_parameters(&stack)
                .unwrap_err()
                .contains("Tag")
        );
    }
}
