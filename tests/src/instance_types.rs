//! EC2's own figures for instance types: the `DescribeInstanceTypes` answers that moto ships as
//! data (`moto/ec2/resources/instance_types.json.gz` in the test venv), so that the test bed
//! reads the memory and architecture of a type instead of restating them.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// What a test needs to know of one instance type.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceType {
    /// `MemoryInfo.SizeInMiB`: the nominal memory, before the kernel takes its share.
    pub memory_mib: u64,
    /// `ProcessorInfo.SupportedArchitectures`.
    pub architectures: Vec<String>,
    /// `BurstablePerformanceSupported`: a T type, with CPU credits.
    pub burstable: bool,
}

const READ: &str = "import gzip, json, os, sys, moto
path = os.path.join(os.path.dirname(moto.__file__), 'ec2', 'resources', 'instance_types.json.gz')
data = json.load(gzip.open(path))
json.dump({name: data.get(name) for name in sys.argv[1:]}, sys.stdout)";

/// The named types, as EC2 describes them; an unknown name is an error.
pub fn describe(names: &[String]) -> Result<BTreeMap<String, InstanceType>, String> {
    let python = crate::emulator::python();
    let output = Command::new(&python)
        .arg("-c")
        .arg(READ)
        .args(names)
        .output()
        .map_err(|error| format!("{}: {error}", python.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let described: BTreeMap<String, Value> = serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("instance types: {error}"))?;
    described
        .into_iter()
        .map(|(name, entry)| {
            if entry.is_null() {
                return Err(format!("EC2 knows no instance type {name}"));
            }
            let memory_mib = entry["MemoryInfo"]["SizeInMiB"]
                .as_u64()
                .ok_or_else(|| format!("{name}: no MemoryInfo.SizeInMiB"))?;
            let architectures = entry["ProcessorInfo"]["SupportedArchitectures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|arch| arch.as_str().map(str::to_owned))
                .collect();
            let burstable = entry["BurstablePerformanceSupported"]
                .as_bool()
                .unwrap_or(false);
            Ok((
                name,
                InstanceType {
                    memory_mib,
                    architectures,
                    burstable,
                },
            ))
        })
        .collect()
}
