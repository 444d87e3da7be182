//! A run's network on real namespaces, veth pairs, a bridge, nftables and tc: addresses that
//! answer, partitions that cut and heal, a link that is really slower, nothing left behind.
//! Needs root on Linux (as `ci/run` is); elsewhere each test says why it did nothing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::netns::{self, Direction, HOST, RunNetwork};

fn available() -> bool {
    match netns::availability() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// A server in `node`'s namespace that sends `bytes` zero bytes to whoever connects.
fn sender_in(network: &RunNetwork, node: &str, port: u16, bytes: usize) -> Child {
    let address = network.node(node).unwrap().address;
    let script = format!(
        "import socket\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{address}', {port})); s.listen(8)\n\
         while True:\n\
         \x20   c, _ = s.accept()\n\
         \x20   try: c.sendall(b'\\0' * {bytes})\n\
         \x20   except OSError: pass\n\
         \x20   c.close()\n"
    );
    let child = network
        .command_in(node, std::path::Path::new("python3"))
        .unwrap()
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 in the node's namespace");
    // Listening once a connection from the machine's end gets through.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(
        &SocketAddr::from((address, port)),
        Duration::from_millis(200),
    )
    .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the sender in {node} never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// Whether a TCP connection from `from`'s namespace to `to:port` is made within 1 s.
fn connects_from(network: &RunNetwork, from: &str, to: Ipv4Addr, port: u16) -> bool {
    let status = network
        .command_in(from, std::path::Path::new("timeout"))
        .unwrap()
        .args(["1", "bash", "-c", &format!("exec 3<>/dev/tcp/{to}/{port}")])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    status.success()
}

fn connects_from_host(to: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((to, port)), Duration::from_secs(1)).is_ok()
}

#[test]
fn nodes_have_their_own_addresses_and_partitions_cut_and_heal() {
    if !available() {
        return;
    }
    let mut network = RunNetwork::create(&["broker-1", "broker-2", "sink-0"]).unwrap();
    let namespaces = network.existing_namespaces().unwrap();
    assert_eq!(
        namespaces.len(),
        4,
        "three nodes and the hub: {namespaces:?}"
    );
    for (name, node) in network.nodes() {
        let octets = node.address.octets();
        assert!(
            octets[0] == 198 && (octets[1] == 18 || octets[1] == 19),
            "{name} at {} is outside 198.18.0.0/15",
            node.address
        );
        assert!(namespaces.contains(&node.namespace), "{name}");
        assert!(node.namespace.contains(network.id()), "{name}");
    }
    let b2 = network.node("broker-2").unwrap().address;
    let mut sender = sender_in(&network, "broker-2", 9092, 1);

    assert!(connects_from(&network, "broker-1", b2, 9092));
    assert!(connects_from(&network, "sink-0", b2, 9092));
    assert!(connects_from_host(b2, 9092));
    // No route out of the run's network: nothing sent to the world leaves a node.
    assert!(!connects_from(
        &network,
        "broker-1",
        Ipv4Addr::new(192, 0, 2, 1),
        80
    ));

    network
        .partition(&["broker-2"], &["broker-1"], Direction::Both)
        .unwrap();
    let rules = network.partition_rules().unwrap();
    assert!(rules.contains(&b2.to_string()), "{rules}");
    assert!(!connects_from(&network, "broker-1", b2, 9092), "cut off");
    assert!(
        connects_from(&network, "sink-0", b2, 9092),
        "not in the partition"
    );
    assert!(
        connects_from_host(b2, 9092),
        "evbench is not in the partition"
    );

    network
        .partition(&["broker-2"], &[HOST], Direction::Both)
        .unwrap();
    assert!(!connects_from_host(b2, 9092), "evbench cut off too");

    network.heal().unwrap();
    assert_eq!(network.partition_rules().unwrap(), "");
    assert!(connects_from(&network, "broker-1", b2, 9092), "healed");
    assert!(connects_from_host(b2, 9092), "healed");

    // One way: only the packets from the cut side are dropped (a TCP handshake needs both ways,
    // so the rule, not a connection, shows it).
    network
        .partition(&["sink-0"], &["broker-2"], Direction::Outgoing)
        .unwrap();
    let sink = network.node("sink-0").unwrap().address;
    let rules = network.partition_rules().unwrap();
    assert!(
        rules.contains(&format!("ip saddr {sink} ip daddr {b2} drop")),
        "{rules}"
    );
    assert!(!rules.contains(&format!("ip saddr {b2}")), "{rules}");
    assert!(!connects_from(&network, "sink-0", b2, 9092));
    network.heal().unwrap();

    let _ = sender.kill();
    let _ = sender.wait();
    let id = network.id().to_owned();
    drop(network);
    let left: Vec<_> = netns::namespaces()
        .unwrap()
        .into_iter()
        .filter(|n| n.contains(&format!("-{id}-")))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let links = String::from_utf8(
        Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!links.contains(&format!("{b2}")), "{links}");
}

#[test]
fn a_slow_link_is_slower_by_its_cap_and_restored() {
    if !available() {
        return;
    }
    let network = RunNetwork::create(&["clickhouse"]).unwrap();
    let address = network.node("clickhouse").unwrap().address;
    const BYTES: usize = 512 * 1024;
    let mut sender = sender_in(&network, "clickhouse", 8123, BYTES);
    let fetch = || {
        let started = Instant::now();
        let mut stream = TcpStream::connect((address, 8123)).unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        let _ = stream.write_all(b"");
        assert_eq!(received.len(), BYTES);
        started.elapsed()
    };
    // 1 Mbit/s: 512 KiB minus the bucket's 16 KiB cannot arrive in less than ~4 s, whatever
    // the machine; uncapped it takes milliseconds.
    network.slow_link("clickhouse", 1_000_000).unwrap();
    let shown = network.link_discipline("clickhouse").unwrap();
    assert!(shown.contains("tbf") && shown.contains("1Mbit"), "{shown}");
    let capped = fetch();
    assert!(
        capped >= Duration::from_millis(3_800),
        "512 KiB through 1 Mbit/s in {capped:?}"
    );
    network.restore_link("clickhouse").unwrap();
    let shown = network.link_discipline("clickhouse").unwrap();
    assert!(!shown.contains("tbf"), "{shown}");
    let uncapped = fetch();
    assert!(
        uncapped < capped,
        "{uncapped:?} after the cap, {capped:?} under it"
    );

    assert!(
        network.slow_link("clickhouse", 100).is_err(),
        "below 8 kbit/s"
    );
    assert!(
        network.slow_link("nobody", 1_000_000).is_err(),
        "unknown node"
    );
    let _ = sender.kill();
    let _ = sender.wait();
}

#[test]
fn namespaces_of_a_killed_run_are_removed_by_the_next() {
    if !available() {
        return;
    }
    // A pid that is certainly gone: a child that exited and was reaped.
    let mut child = Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let dead = child.id();
    let leftover = format!("evbench-{dead}-0-hub");
    let status = Command::new("ip")
        .args(["netns", "add", &leftover])
        .status()
        .unwrap();
    assert!(status.success());
    let network = RunNetwork::create(&["aggregator-0"]).unwrap();
    let after = netns::namespaces().unwrap();
    assert!(!after.contains(&leftover), "{after:?}");
    assert!(
        after.iter().any(|n| n.contains(network.id())),
        "the live run's own stay: {after:?}"
    );
    // Bad names are refused before anything is made.
    assert!(RunNetwork::create(&["no spaces"]).is_err());
    assert!(RunNetwork::create(&[HOST]).is_err());
}
