//! Plays CloudFormation for the custom resources: requests with the template's properties,
//! answers read from a local ResponseURL, ids and attributes recorded for later references.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use super::progress::Progress;
use crate::emulator::Emulator;
use crate::events;
use crate::harness;
use crate::iam::Principal;
use crate::runtime_api::{FunctionProcess, RuntimeApi};
use crate::sink::ResponseSink;
use crate::template::{Stack, Template};

/// One function binary behind its own Runtime API.
pub struct Function {
    pub api: RuntimeApi,
    pub process: FunctionProcess,
}

impl Function {
    /// Starts the function built as `binary`, signing as its role in `template` for `stack`,
    /// which the emulator enforces from now on.
    pub async fn start(
        template: &Template,
        stack: &Stack,
        emulator: &Emulator,
        binary: &str,
        extra_env: &[(&str, String)],
    ) -> Result<Self, String> {
        let principal = Principal::of_function(template, stack, binary)?;
        emulator.enforce_iam(&principal).await;
        let mut env = emulator.function_env_as(&principal);
        env.extend(extra_env.iter().map(|(key, value)| (*key, value.clone())));
        let api = RuntimeApi::start().await;
        let process = FunctionProcess::spawn_resolving(binary, &api, &env, emulator.public_hosts());
        Ok(Self { api, process })
    }

    /// Invokes the function with `event` as EventBridge or Scheduler would; anything but a
    /// response (an error, no answer within 30 s) is an error naming `what`.
    pub async fn invoke_ok(&self, event: serde_json::Value, what: &str) -> Result<(), String> {
        match self
            .api
            .invoke(event, std::time::Duration::from_secs(30))
            .await
        {
            crate::runtime_api::Invocation::Response(_) => Ok(()),
            other => Err(format!("{what} failed: {other:?}")),
        }
    }
}

/// The custom resources' functions, keyed by the template's function resource name.
pub struct CloudFormation {
    pub functions: BTreeMap<String, Function>,
    sink: ResponseSink,
    calls: AtomicU32,
    stack_id: String,
}

impl CloudFormation {
    /// Starts every custom resource's function binary (as named by its `BuildProperties`),
    /// each with its own role enforced.
    pub async fn start(
        template: &Template,
        stack: &Stack,
        emulator: &Emulator,
    ) -> Result<Self, String> {
        let mut functions = BTreeMap::new();
        for resource in template.custom_resources_in_order() {
            let function = service_function(template, &resource);
            if functions.contains_key(&function) {
                continue;
            }
            let binary = template.resource(&function)["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let started = Function::start(template, stack, emulator, &binary, &[]).await?;
            functions.insert(function, started);
        }
        Ok(Self {
            functions,
            sink: ResponseSink::start().await,
            calls: AtomicU32::new(0),
            stack_id: stack.id.clone(),
        })
    }

    /// Creates `resource`; records its id and `Data` in `stack`.
    pub async fn create(
        &self,
        template: &Template,
        resource: &str,
        stack: &mut Stack,
        progress: &Progress,
    ) -> Result<(), String> {
        let properties = template.properties(resource, stack)?;
        let event = events::create(kind(template, resource), properties, "");
        self.apply(template, resource, event, "CREATE", stack, progress)
            .await
            .map(drop)
    }

    /// Updates `resource` from `old` properties to what the template says now.
    pub async fn update(
        &self,
        template: &Template,
        resource: &str,
        old: Value,
        stack: &mut Stack,
        progress: &Progress,
    ) -> Result<(), String> {
        self.update_saying(template, resource, old, stack, progress)
            .await
            .map(drop)
    }

    /// [`Self::update`], answering the reason the resource's event shows.
    pub async fn update_saying(
        &self,
        template: &Template,
        resource: &str,
        old: Value,
        stack: &mut Stack,
        progress: &Progress,
    ) -> Result<String, String> {
        let properties = template.properties(resource, stack)?;
        let id = stack
            .refs
            .get(resource)
            .cloned()
            .ok_or(format!("{resource} was never made"))?;
        let event = events::update(kind(template, resource), &id, old, properties, "");
        self.apply(template, resource, event, "UPDATE", stack, progress)
            .await
    }

    /// Datero onto a new revision, as CloudFormation orders it: the task definition (a new
    /// revision), then the task onto it. `old_*`: the properties they had.
    pub async fn update_revision(
        &self,
        template: &Template,
        old_definition: Value,
        old_task: Value,
        stack: &mut Stack,
        progress: &Progress,
    ) -> Result<(), String> {
        self.update(template, "TaskDefinition", old_definition, stack, progress)
            .await?;
        self.update(template, "DateroTask", old_task, stack, progress)
            .await
    }

    /// CloudFormation's clean-up phase after a revision was replaced: the revision `arn`, with
    /// the properties it had, is deleted.
    pub async fn delete_revision(
        &self,
        template: &Template,
        arn: &str,
        definition: Value,
        progress: &Progress,
    ) -> Result<(), String> {
        self.delete(template, "TaskDefinition", arn, definition, progress)
            .await
    }

    /// Deletes the resource known as `id`, with the properties it had.
    pub async fn delete(
        &self,
        template: &Template,
        resource: &str,
        id: &str,
        properties: Value,
        progress: &Progress,
    ) -> Result<(), String> {
        let event = events::delete(kind(template, resource), id, properties, "");
        let answer = self.send(template, resource, event).await?;
        report(resource, "DELETE", &answer, progress)
    }

    async fn apply(
        &self,
        template: &Template,
        resource: &str,
        event: Value,
        action: &str,
        stack: &mut Stack,
        progress: &Progress,
    ) -> Result<String, String> {
        progress.event(resource, &format!("{action}_IN_PROGRESS"), "");
        let answer = self.send(template, resource, event).await?;
        report(resource, action, &answer, progress)?;
        stack.refs.insert(
            resource.to_owned(),
            answer["PhysicalResourceId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        for (key, value) in answer["Data"].as_object().into_iter().flatten() {
            stack.attributes.insert(
                format!("{resource}.{key}"),
                value.as_str().unwrap_or_default().to_owned(),
            );
        }
        Ok(answer["Reason"].as_str().unwrap_or_default().to_owned())
    }

    async fn send(
        &self,
        template: &Template,
        resource: &str,
        mut event: Value,
    ) -> Result<Value, String> {
        event["StackId"] = Value::from(self.stack_id.as_str());
        event["LogicalResourceId"] = Value::from(resource);
        let function = &self.functions[&service_function(template, resource)];
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        harness::request(
            &function.api,
            &function.process,
            &self.sink,
            &format!("{resource}-{call}"),
            event,
        )
        .await
    }
}

fn report(resource: &str, action: &str, answer: &Value, progress: &Progress) -> Result<(), String> {
    let reason = answer["Reason"].as_str().unwrap_or_default();
    if answer["Status"] == "SUCCESS" {
        progress.event(
            resource,
            &format!("{action}_COMPLETE"),
            answer["PhysicalResourceId"].as_str().unwrap_or_default(),
        );
        Ok(())
    } else {
        progress.event(resource, &format!("{action}_FAILED"), reason);
        Err(format!("{resource} {action} FAILED: {reason}"))
    }
}

fn kind<'a>(template: &'a Template, resource: &str) -> &'a str {
    template.resource(resource)["Type"]
        .as_str()
        .unwrap_or_default()
}

/// The function resource behind a custom resource's `ServiceToken: !GetAtt <Function>.Arn`.
fn service_function(template: &Template, resource: &str) -> String {
    let token = &template.resource(resource)["Properties"]["ServiceToken"];
    let path = match token {
        serde_norway::Value::Tagged(tagged) => tagged.value.as_str().unwrap_or_default().to_owned(),
        other => other["Fn::GetAtt"].as_str().unwrap_or_default().to_owned(),
    };
    path.trim_end_matches(".Arn").to_owned()
}
