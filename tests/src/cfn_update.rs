//! What CloudFormation does to each resource in a stack update, decided from AWS's own data:
//! the resource provider schemas (the registry's `createOnlyProperties`: "Properties that can
//! only be specified when the resource is created; changing one replaces the resource", and
//! `readOnlyProperties`, the attributes that can change), as cfn-lint ships them
//! (`cfnlint/data/schemas`, in the test venv). Custom resources are updated in place: their
//! function decides whether the physical id changes, so whatever refers to one that changes is
//! taken to change too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::template::{Stack, Template};

/// What an update does to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Made by this update (new, or its condition turned true).
    Add,
    /// Deleted in the cleanup phase (its condition turned false).
    Remove,
    Unchanged,
    /// Updated in place; the properties that changed.
    Update(Vec<String>),
    /// A new one is made before the old one is deleted (in the cleanup phase); the create-only
    /// properties that changed.
    Replace(Vec<String>),
}

/// The resource provider schemas of one Region.
pub struct Schemas {
    folder: PathBuf,
    index: BTreeMap<String, String>,
}

impl Schemas {
    /// The us-east-1 schemas shipped with the test venv's cfn-lint.
    pub fn load() -> Result<Self, String> {
        let python = crate::emulator::python();
        let output = Command::new(&python)
            .args([
                "-c",
                "import cfnlint, os; print(os.path.join(os.path.dirname(cfnlint.__file__), 'data', 'schemas'))",
            ])
            .output()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        let folder = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let index_path = folder.join("providers/us-east-1.json");
        let index: BTreeMap<String, String> = serde_json::from_str(
            &std::fs::read_to_string(&index_path)
                .map_err(|e| format!("{}: {e}", index_path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", index_path.display()))?;
        Ok(Self { folder, index })
    }

    fn schema(&self, kind: &str) -> Result<Value, String> {
        let file = self
            .index
            .get(kind)
            .ok_or_else(|| format!("no resource provider schema for {kind}"))?;
        let path = self.folder.join("resources").join(format!("{file}.json"));
        serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The top-level property names a schema lists under `key` (`/properties/Name/...`).
    fn listed(&self, kind: &str, key: &str) -> Result<Vec<String>, String> {
        Ok(self.schema(kind)?[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|path| path.as_str()?.strip_prefix("/properties/"))
            .map(|path| path.split('/').next().unwrap_or_default().to_owned())
            .collect())
    }

    /// Properties whose change replaces a resource of `kind`.
    pub fn create_only(&self, kind: &str) -> Result<Vec<String>, String> {
        self.listed(kind, "createOnlyProperties")
    }

    /// Attributes of `kind` that AWS sets (and an update may change).
    pub fn read_only(&self, kind: &str) -> Result<Vec<String>, String> {
        self.listed(kind, "readOnlyProperties")
    }
}

/// What updating the stack from `old` to `new` (other parameters) does to each resource of
/// `template`. A resource that changes passes its change on: a replaced one has a new `Ref`
/// and new attributes, an updated one may have new read-only attributes (a launch template's
/// `LatestVersionNumber`); what refers to them changes in turn.
pub fn plan(
    template: &Template,
    schemas: &Schemas,
    old: &Stack,
    new: &Stack,
) -> Result<BTreeMap<String, Change>, String> {
    let (old, mut new) = with_every_attribute(template, old, new)?;
    let old = &old;
    let mut changes = BTreeMap::new();
    // A change passes along one reference per round; a template is not that deep.
    for _ in 0..16 {
        let next = changes_once(template, schemas, old, &new)?;
        if next == changes {
            return Ok(changes);
        }
        for (resource, change) in &next {
            let kind = template.resource(resource)["Type"]
                .as_str()
                .unwrap_or_default();
            match change {
                Change::Replace(_) => {
                    if let Some(id) = old.refs.get(resource) {
                        new.refs
                            .insert(resource.clone(), format!("{id}-replacement"));
                    }
                    for (key, value) in old.attributes.iter() {
                        if key.starts_with(&format!("{resource}.")) {
                            new.attributes
                                .insert(key.clone(), format!("{value}-replacement"));
                        }
                    }
                }
                // A custom resource's function may answer a new id and new `Data` (the task
                // definition's registers a new revision on any change): whatever refers to it
                // may change.
                Change::Update(_) if kind.starts_with("Custom::") => {
                    if let Some(id) = old.refs.get(resource) {
                        new.refs.insert(resource.clone(), format!("{id}-updated"));
                    }
                    for (key, value) in old.attributes.iter() {
                        if key.starts_with(&format!("{resource}.")) {
                            new.attributes
                                .insert(key.clone(), format!("{value}-updated"));
                        }
                    }
                }
                Change::Update(_) => {
                    for attribute in schemas.read_only(kind).unwrap_or_default() {
                        let key = format!("{resource}.{attribute}");
                        if let Some(value) = old.attributes.get(&key) {
                            new.attributes.insert(key, format!("{value}-updated"));
                        }
                    }
                }
                _ => {}
            }
        }
        changes = next;
    }
    Err("the update plan did not settle".to_owned())
}

/// Both stacks with a value for every `Fn::GetAtt` the template uses (a placeholder stack
/// names only those the tests read): the same one in both, so that it changes nothing.
fn with_every_attribute(
    template: &Template,
    old: &Stack,
    new: &Stack,
) -> Result<(Stack, Stack), String> {
    let (mut old, mut new) = (old.clone(), new.clone());
    let names: Vec<String> = template.yaml()["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(name, _)| name.as_str().map(str::to_owned))
        .collect();
    for name in &names {
        for stack in [&mut old, &mut new] {
            if !template.exists(name, stack)? {
                continue;
            }
            // Each missing attribute is named by the error; a resource uses only a few.
            for _ in 0..32 {
                match template.resolve(&template.resource(name)["Properties"], stack) {
                    Ok(_) => break,
                    Err(error) => {
                        // `!GetAtt A.B`, or `${A.B}` inside a `!Sub`.
                        let Some(path) = error
                            .strip_prefix("!GetAtt ")
                            .and_then(|rest| rest.strip_suffix(": not made yet"))
                            .or_else(|| {
                                error
                                    .strip_prefix("${")
                                    .and_then(|rest| rest.strip_suffix("}: not made yet"))
                            })
                        else {
                            return Err(format!("{name}: {error}"));
                        };
                        stack
                            .attributes
                            .insert(path.to_owned(), format!("<{path}>"));
                    }
                }
            }
        }
    }
    Ok((old, new))
}

fn changes_once(
    template: &Template,
    schemas: &Schemas,
    old: &Stack,
    new: &Stack,
) -> Result<BTreeMap<String, Change>, String> {
    let mut changes = BTreeMap::new();
    for (name, definition) in template.yaml()["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or_default().to_owned();
        let kind = definition["Type"].as_str().unwrap_or_default();
        let change = match (template.exists(&name, old)?, template.exists(&name, new)?) {
            (false, false) => continue,
            (false, true) => Change::Add,
            (true, false) => Change::Remove,
            (true, true) => {
                let before = properties(template, &name, old)?;
                let after = properties(template, &name, new)?;
                let mut changed: Vec<String> = before
                    .keys()
                    .chain(after.keys())
                    .filter(|key| before.get(*key) != after.get(*key))
                    .cloned()
                    .collect();
                changed.sort();
                changed.dedup();
                if changed.is_empty() {
                    Change::Unchanged
                } else if kind.starts_with("Custom::") || kind.starts_with("AWS::Serverless::") {
                    Change::Update(changed)
                } else {
                    let create_only = schemas.create_only(kind)?;
                    let replacing: Vec<String> = changed
                        .iter()
                        .filter(|key| create_only.contains(key))
                        .cloned()
                        .collect();
                    if replacing.is_empty() {
                        Change::Update(changed)
                    } else {
                        Change::Replace(replacing)
                    }
                }
            }
        };
        changes.insert(name, change);
    }
    Ok(changes)
}

fn properties(
    template: &Template,
    name: &str,
    stack: &Stack,
) -> Result<serde_json::Map<String, Value>, String> {
    let resolved = template
        .resolve(&template.resource(name)["Properties"], stack)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(resolved
        .and_then(|value| value.as_object().cloned())
        .unwrap_or_default())
}
