//! Every node on its own address: a run's private network of Linux network namespaces.
//!
//! A [`RunNetwork`] gives each named node (a broker, a ClickHouse server, a pipeline instance)
//! a network namespace of its own with one interface, `eth0`, on a bridge. The bridge lives in a
//! namespace of its own too (the *hub*), so nothing is added to the machine's own network but
//! one veth pair: its end on the machine's side holds the run's first address, which is how
//! evbench itself (the simulator, the observers) reaches the nodes. Addresses come from one /24
//! of the benchmarking range 198.18.0.0/15 (RFC 2544) that no interface of the machine uses; no
//! namespace has a default route, so nothing a node sends can leave the run's own addresses.
//!
//! The traffic between nodes crosses a real (virtual) network that faults can cut:
//! [`RunNetwork::partition`] drops what crosses the bridge between two sets of nodes (an
//! nftables table of the `bridge` family in the hub), [`RunNetwork::slow_link`] caps a node's
//! link with a token bucket (`tc … tbf`) on both of its ends.
//!
//! Every namespace carries the run's id (`evbench-<pid>-<n>-…`); dropping the network removes
//! them (and with the hub, the veth pairs, the bridge and the rules). A run killed before it
//! could do that leaves them behind: [`remove_leftovers`] (called by [`RunNetwork::create`])
//! removes those whose process is gone.
//!
//! Needs Linux, root and `ip` (iproute2); partitions need `nft` (nftables) and slow links `tc`.
//! [`availability`] says why not, where not.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Error, Result};

/// The prefix of every namespace evbench makes.
const PREFIX: &str = "evbench-";

/// Runs of this process so far: two networks of one process (tests) need different names.
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// Which way a partition cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Neither side reaches the other.
    Both,
    /// The cut nodes' packets to the others are dropped; the others' still arrive.
    Outgoing,
    /// The others' packets to the cut nodes are dropped; the cut nodes' still arrive.
    Incoming,
}

/// The name of the machine's own end (evbench itself), usable in partitions like a node's.
pub const HOST: &str = "evbench";

/// Why the nodes cannot have their own addresses here, if they cannot.
pub fn availability() -> std::result::Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces need Linux".into());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("network namespaces need root (evbench runs as an ordinary user)".into());
    }
    if which("ip").is_none() {
        return Err("`ip` (iproute2) is not on PATH".into());
    }
    Ok(())
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// Refuses a node name that cannot be part of a namespace's name, or names evbench's own end.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == HOST
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::Network(format!(
            "{name:?} cannot name a node (letters, digits and '-'; not {HOST:?})"
        )));
    }
    Ok(())
}

/// One node's place on the network.
#[derive(Debug, Clone)]
pub struct Node {
    /// The namespace its processes run in.
    pub namespace: String,
    /// Its address on the run's network.
    pub address: Ipv4Addr,
    /// Its link's end on the bridge (in the hub).
    hub_link: String,
}

/// A run's network: the hub with its bridge, a namespace per node, the machine's own end.
#[derive(Debug)]
pub struct RunNetwork {
    id: String,
    hub: String,
    host_link: String,
    host_address: Ipv4Addr,
    nodes: BTreeMap<String, Node>,
    /// The partitions in place, as nftables rules, to say what is cut.
    partitions: Vec<String>,
    /// The run's /24, and the index the next node gets (its address is `.10 + index`).
    subnet: Subnet,
    short: String,
    next_index: usize,
}

impl RunNetwork {
    /// Makes the namespaces of `nodes` (names of letters, digits and `-`), each with its own
    /// address, and the machine's end of the network. Removes other runs' leftovers first.
    pub fn create(nodes: &[&str]) -> Result<RunNetwork> {
        availability().map_err(Error::NetworkUnavailable)?;
        for removed in remove_leftovers()? {
            tracing::info!(
                namespace = removed,
                "removed a namespace a killed run left behind"
            );
        }
        if nodes.len() > 200 {
            return Err(Error::Network(format!(
                "{} nodes: a run's network holds at most 200",
                nodes.len()
            )));
        }
        // Names checked before anything is made.
        for node in nodes {
            check_name(node)?;
        }
        let pid = std::process::id();
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let id = format!("{pid}-{sequence}");
        let subnet = free_subnet(pid, sequence)?;
        let short = format!("{pid:x}s{sequence}");
        let mut network = RunNetwork {
            hub: format!("{PREFIX}{id}-hub"),
            host_link: format!("ev{short}h"),
            host_address: subnet.host(1),
            id,
            nodes: BTreeMap::new(),
            partitions: Vec::new(),
            subnet,
            short,
            next_index: 0,
        };
        // From here on, dropping `network` removes whatever was made.
        network.make_hub()?;
        for name in nodes {
            network.add_node(name)?;
        }
        tracing::info!(id = network.id, host = %network.host_address, nodes = nodes.len(), "run network made");
        Ok(network)
    }

    /// Adds the node `name` (a namespace with its own address on the bridge), or gives the
    /// one of that name the network has.
    pub fn add_node(&mut self, name: &str) -> Result<Node> {
        if let Some(node) = self.nodes.get(name) {
            return Ok(node.clone());
        }
        check_name(name)?;
        let index = self.next_index;
        if index >= 200 {
            return Err(Error::Network(
                "a run's network holds at most 200 nodes".into(),
            ));
        }
        let node = Node {
            namespace: format!("{PREFIX}{}-{name}", self.id),
            address: self.subnet.host(10 + index as u8),
            hub_link: format!("ev{}n{index}", self.short),
        };
        self.next_index += 1;
        // Inserted first: if making it fails half-way, the drop still removes what was made.
        self.nodes.insert(name.to_owned(), node.clone());
        self.make_node(&node)?;
        Ok(node)
    }

    fn make_hub(&mut self) -> Result<()> {
        ip(&["netns", "add", &self.hub])?;
        ip(&["-n", &self.hub, "link", "set", "lo", "up"])?;
        ip(&["-n", &self.hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &self.hub, "link", "set", "br0", "up"])?;
        let peer = format!("{}p", self.host_link);
        ip(&[
            "link",
            "add",
            &self.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &self.hub])?;
        ip(&["-n", &self.hub, "link", "set", &peer, "master", "br0"])?;
        ip(&["-n", &self.hub, "link", "set", &peer, "up"])?;
        let address = format!("{}/24", self.host_address);
        ip(&["addr", "add", &address, "dev", &self.host_link])?;
        ip(&["link", "set", &self.host_link, "up"])
    }

    fn make_node(&self, node: &Node) -> Result<()> {
        let inner = format!("{}i", node.hub_link);
        ip(&["netns", "add", &node.namespace])?;
        ip(&[
            "link",
            "add",
            &node.hub_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner,
        ])?;
        ip(&["link", "set", &node.hub_link, "netns", &self.hub])?;
        ip(&[
            "-n",
            &self.hub,
            "link",
            "set",
            &node.hub_link,
            "master",
            "br0",
        ])?;
        ip(&["-n", &self.hub, "link", "set", &node.hub_link, "up"])?;
        ip(&["link", "set", &inner, "netns", &node.namespace])?;
        ip(&["-n", &node.namespace, "link", "set", &inner, "name", "eth0"])?;
        let address = format!("{}/24", node.address);
        ip(&[
            "-n",
            &node.namespace,
            "addr",
            "add",
            &address,
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &node.namespace, "link", "set", "eth0", "up"])?;
        ip(&["-n", &node.namespace, "link", "set", "lo", "up"])
    }

    /// The run's id, which every namespace's name carries.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The machine's own address on the run's network (where evbench itself is reached).
    pub fn host_address(&self) -> Ipv4Addr {
        self.host_address
    }

    /// A node's place, if it is one of the run's.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// The nodes by name.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(name, node)| (name.as_str(), node))
    }

    /// What runs `program` in `node`'s namespace: `ip netns exec <namespace>` before it.
    pub fn command_in(&self, node: &str, program: &std::path::Path) -> Result<Command> {
        let namespace = &self.known(node)?.namespace;
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace]).arg(program);
        Ok(command)
    }

    fn known(&self, node: &str) -> Result<&Node> {
        self.nodes.get(node).ok_or_else(|| {
            Error::Network(format!(
                "{node:?} is not a node of run {} (nodes: {})",
                self.id,
                self.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    fn address_of(&self, name: &str) -> Result<Ipv4Addr> {
        if name == HOST {
            Ok(self.host_address)
        } else {
            Ok(self.known(name)?.address)
        }
    }

    /// Cuts `cut` off from `others` (both by node name; [`HOST`] names evbench itself) until
    /// [`heal`](Self::heal): packets between them that `direction` names are dropped on the
    /// bridge. Connections already open stall as on a real network; nothing is reset.
    pub fn partition(&mut self, cut: &[&str], others: &[&str], direction: Direction) -> Result<()> {
        let set = |names: &[&str]| -> Result<String> {
            let addresses = names
                .iter()
                .map(|n| self.address_of(n).map(|a| a.to_string()))
                .collect::<Result<Vec<_>>>()?;
            Ok(format!("{{ {} }}", addresses.join(", ")))
        };
        let (cut_set, others_set) = (set(cut)?, set(others)?);
        if self.partitions.is_empty() {
            nft(
                &self.hub,
                "add table bridge evbench\n\
                 add chain bridge evbench forward { type filter hook forward priority 0; policy accept; }\n",
            )?;
        }
        let mut rules = Vec::new();
        if direction != Direction::Incoming {
            rules.push(format!("ip saddr {cut_set} ip daddr {others_set} drop"));
        }
        if direction != Direction::Outgoing {
            rules.push(format!("ip saddr {others_set} ip daddr {cut_set} drop"));
        }
        let script: String = rules
            .iter()
            .map(|rule| format!("add rule bridge evbench forward {rule}\n"))
            .collect();
        nft(&self.hub, &script)?;
        self.partitions.extend(rules);
        tracing::info!(run = self.id, ?cut, ?others, ?direction, "partitioned");
        Ok(())
    }

    /// The partition rules in place (empty when nothing is cut), as nftables shows them.
    pub fn partition_rules(&self) -> Result<String> {
        if self.partitions.is_empty() {
            return Ok(String::new());
        }
        run(Command::new("ip").args([
            "netns", "exec", &self.hub, "nft", "list", "table", "bridge", "evbench",
        ]))
    }

    /// Ends every partition.
    pub fn heal(&mut self) -> Result<()> {
        if self.partitions.is_empty() {
            return Ok(());
        }
        nft(&self.hub, "delete table bridge evbench\n")?;
        self.partitions.clear();
        tracing::info!(run = self.id, "partitions healed");
        Ok(())
    }

    /// Caps `node`'s link at `bits_per_second` each way (a token bucket on both ends of it)
    /// until [`restore_link`](Self::restore_link).
    pub fn slow_link(&self, node: &str, bits_per_second: u64) -> Result<()> {
        let node = self.known(node)?;
        if bits_per_second < 8_000 {
            return Err(Error::Network(format!(
                "a link of {bits_per_second} bit/s carries no Kafka traffic: 8 kbit/s at least"
            )));
        }
        // A burst of at least a few full frames, else tbf drops every large packet.
        let burst = (bits_per_second / 8 / 50).max(16 * 1024).to_string();
        let rate = format!("{bits_per_second}bit");
        for (namespace, link) in [
            (&self.hub, &node.hub_link),
            (&node.namespace, &"eth0".to_owned()),
        ] {
            run(Command::new("ip").args([
                "netns", "exec", namespace, "tc", "qdisc", "replace", "dev", link, "root", "tbf",
                "rate", &rate, "burst", &burst, "latency", "200ms",
            ]))?;
        }
        Ok(())
    }

    /// The queueing discipline on `node`'s own end of its link, as `tc` shows it.
    pub fn link_discipline(&self, node: &str) -> Result<String> {
        let node = self.known(node)?;
        run(Command::new("ip").args([
            "netns",
            "exec",
            &node.namespace,
            "tc",
            "qdisc",
            "show",
            "dev",
            "eth0",
        ]))
    }

    /// Takes the cap off `node`'s link.
    pub fn restore_link(&self, node: &str) -> Result<()> {
        let node = self.known(node)?;
        for (namespace, link) in [
            (&self.hub, &node.hub_link),
            (&node.namespace, &"eth0".to_owned()),
        ] {
            run(Command::new("ip").args([
                "netns", "exec", namespace, "tc", "qdisc", "del", "dev", link, "root",
            ]))?;
        }
        Ok(())
    }

    /// The namespaces of this run that exist now (for tests and the report).
    pub fn existing_namespaces(&self) -> Result<Vec<String>> {
        let prefix = format!("{PREFIX}{}-", self.id);
        Ok(namespaces()?
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect())
    }
}

impl Drop for RunNetwork {
    fn drop(&mut self) {
        // The nodes first: their processes' sockets go with them. Removing the hub removes the
        // bridge, the rules and every veth pair (each has an end in it).
        for node in self.nodes.values() {
            let _ = ip(&["netns", "del", &node.namespace]);
        }
        let _ = ip(&["netns", "del", &self.hub]);
        let _ = ip(&["link", "del", &self.host_link]);
        tracing::info!(id = self.id, "run network removed");
    }
}

/// The command line that runs `program args…` in `namespace` (when one is given): `ip netns
/// exec` enters it and execs the program, so the pid stays the program's.
pub fn command_line(
    namespace: Option<&str>,
    program: &std::path::Path,
    args: &[String],
) -> (std::path::PathBuf, Vec<String>) {
    match namespace {
        Some(namespace) => {
            let mut wrapped = vec!["netns".to_owned(), "exec".to_owned(), namespace.to_owned()];
            wrapped.push(program.display().to_string());
            wrapped.extend(args.iter().cloned());
            (std::path::PathBuf::from("ip"), wrapped)
        }
        None => (program.to_owned(), args.to_vec()),
    }
}

/// Removes the namespaces of runs whose process is gone (a run SIGKILLed before it could
/// remove its own). Returns their names.
pub fn remove_leftovers() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for namespace in namespaces()? {
        let Some(pid) = namespace
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            match ip(&["netns", "del", &namespace]) {
                Ok(()) => removed.push(namespace),
                // Another run removing the same leftovers at the same moment got there first.
                Err(_) if !namespaces()?.contains(&namespace) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Every namespace evbench made that exists now.
pub fn namespaces() -> Result<Vec<String>> {
    let listed = run(Command::new("ip").args(["netns", "list"]))?;
    Ok(listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(PREFIX))
        .map(str::to_owned)
        .collect())
}

/// One /24 of 198.18.0.0/15.
#[derive(Debug, Clone, Copy)]
struct Subnet {
    second: u8,
    third: u8,
}

impl Subnet {
    fn host(self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, self.second, self.third, last)
    }
}

/// A /24 of the benchmarking range that no interface here uses, starting from one the pid and
/// sequence choose (so that parallel runs seldom try the same one).
fn free_subnet(pid: u32, sequence: u32) -> Result<Subnet> {
    let shown = run(Command::new("ip").args(["-o", "-4", "addr", "show"]))?;
    let start = (pid.wrapping_mul(31).wrapping_add(sequence)) % 512;
    (0..512)
        .map(|step| (start + step) % 512)
        .map(|n| Subnet {
            second: 18 + (n / 256) as u8,
            third: (n % 256) as u8,
        })
        .find(|s| !shown.contains(&format!(" 198.{}.{}.", s.second, s.third)))
        .ok_or_else(|| Error::Network("every /24 of 198.18.0.0/15 is in use here".into()))
}

fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args)).map(drop)
}

fn nft(namespace: &str, script: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("start nft (install nftables)", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::io("write to nft", e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::io("wait for nft", e))?;
    if !output.status.success() {
        return Err(Error::Network(format!(
            "nft in {namespace} refused `{}`: {}",
            script.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

fn run(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command
        .output()
        .map_err(|e| Error::io(format!("run {shown}"), e))?;
    if !output.status.success() {
        return Err(Error::Network(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pure logic only (the namespaces themselves are tested in `tests/netns.rs`).
    #[test]
    fn a_command_in_a_namespace_is_run_through_ip_netns_exec() {
        let args = vec!["--config".to_owned(), "a b".to_owned()];
        let program = std::path::Path::new("/usr/bin/clickhouse-server");
        let (wrapped, wrapped_args) = command_line(Some("evbench-1-0-clickhouse"), program, &args);
        assert_eq!(wrapped, std::path::PathBuf::from("ip"));
        assert_eq!(
            wrapped_args,
            [
                "netns",
                "exec",
                "evbench-1-0-clickhouse",
                "/usr/bin/clickhouse-server",
                "--config",
                "a b"
            ]
        );
        assert_eq!(
            command_line(None, program, &args),
            (program.to_owned(), args)
        );
    }

    #[test]
    fn subnets_are_in_the_benchmarking_range() {
        let low = Subnet {
            second: 18,
            third: 0,
        };
        let high = Subnet {
            second: 19,
            third: 255,
        };
        assert_eq!(low.host(1), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(high.host(10), Ipv4Addr::new(198, 19, 255, 10));
    }
}
