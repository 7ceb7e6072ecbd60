//! Each function under test signs its calls with an access key of its own, and the emulator
//! authorizes every one of them against that function's role in `template.yaml`, resolved for
//! the stack under test (see `tests/emulator/iam.py`).

use serde_json::Value;

use crate::template::{Stack, Template};

/// A function's identity in the emulator: its access key, and its role's policy documents.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The binary's name (`task-runner`).
    pub name: String,
    /// The role's logical id in the template (`TaskRunnerFunctionRole`).
    pub role: String,
    pub access_key_id: String,
    /// The role's inline policy documents, resolved.
    pub policies: Vec<Value>,
}

impl Principal {
    /// The role of the function whose binary is `binary`, as `template` defines it for `stack`.
    pub fn of_function(template: &Template, stack: &Stack, binary: &str) -> Result<Self, String> {
        let function = template
            .resources_of("AWS::Serverless::Function")
            .into_iter()
            .find(|name| {
                template.resource(name)["Metadata"]["BuildProperties"]["Binary"].as_str()
                    == Some(binary)
            })
            .ok_or_else(|| format!("no function in template.yaml builds the binary {binary}"))?;
        let role = role_of(template, &function)?;
        Self::of_role(template, stack, &role, binary)
    }

    /// The role `role` of `template` (a task's or a schedule's), signing as `name`.
    pub fn of_role(
        template: &Template,
        stack: &Stack,
        role: &str,
        name: &str,
    ) -> Result<Self, String> {
        if template.resource(role)["Type"].as_str() != Some("AWS::IAM::Role") {
            return Err(format!("{role} is not a role of template.yaml"));
        }
        let mut policies = Vec::new();
        for policy in template.resource(role)["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let document = template
                .resolve(&policy["PolicyDocument"], stack)?
                .ok_or_else(|| format!("{role}: a policy without a document"))?;
            policies.push(document);
        }
        Ok(Self {
            name: name.to_owned(),
            access_key_id: access_key_id(name),
            role: role.to_owned(),
            policies,
        })
    }

    /// Whoever the test bed plays outside the product's roles (CloudFormation, an operator):
    /// its calls are not authorized, as no role is registered for its key.
    pub fn unchecked(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            role: "none".to_owned(),
            access_key_id: "testing".to_owned(),
            policies: Vec::new(),
        }
    }

    /// Adds a statement to the role: for a test that uses names a user's own template (with its
    /// own role) would grant, never to make a call of the product's template pass.
    pub fn grant(mut self, mut statement: Value) -> Self {
        // Marked so that the permissions table (docs/permissions.md) leaves it out.
        statement["Sid"] = Value::from(TEST_ONLY_SID);
        self.policies
            .push(serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}));
        self
    }
}

/// The `Sid` of statements a test adds with [`Principal::grant`].
pub const TEST_ONLY_SID: &str = "TestOnlyGrant";

/// The role behind `Role: !GetAtt <Role>.Arn` of a function.
fn role_of(template: &Template, function: &str) -> Result<String, String> {
    let role = &template.resource(function)["Properties"]["Role"];
    let path = match role {
        serde_norway::Value::Tagged(tagged) => tagged.value.as_str().map(str::to_owned),
        other => other["Fn::GetAtt"].as_str().map(str::to_owned),
    };
    path.and_then(|path| path.strip_suffix(".Arn").map(str::to_owned))
        .ok_or_else(|| format!("{function}: Role is not !GetAtt <Role>.Arn"))
}

/// A stable, recognisable access key id per binary (`AKIDTASKRUNNER`).
pub fn access_key_id(binary: &str) -> String {
    format!("AKID{}", binary.replace('-', "").to_ascii_uppercase())
}
