//! The delay proxy over real sockets: bytes come through intact and in order, a set delay holds
//! each direction at least that long, no delay relays at once, and dropping it closes the path.

use std::time::{Duration, Instant};

use harness::delay_proxy::DelayProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on loopback.
async fn echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    address
}

async fn round_trip(stream: &mut TcpStream, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    stream.write_all(bytes).await.unwrap();
    let mut back = vec![0u8; bytes.len()];
    stream.read_exact(&mut back).await.unwrap();
    (back, started.elapsed())
}

#[tokio::test]
async fn delay_holds_each_direction_and_keeps_the_bytes() {
    let target = echo().await;
    let proxy = DelayProxy::start("127.0.0.1:0".parse().unwrap(), target)
        .await
        .unwrap();
    assert_eq!(proxy.target(), target);
    let mut stream = TcpStream::connect(proxy.local_addr()).await.unwrap();

    // Every byte through, in order (a megabyte: many chunks each way).
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (back, _) = round_trip(&mut stream, &payload).await;
    assert!(back == payload, "the bytes came back changed");

    // 100 ms each way: a round trip cannot take less than 200 ms, whatever the machine.
    proxy.set_delay(Duration::from_millis(100), Duration::from_millis(20));
    assert_eq!(proxy.delay(), Duration::from_millis(100));
    let (back, delayed) = round_trip(&mut stream, b"ping").await;
    assert_eq!(back, b"ping");
    assert!(
        delayed >= Duration::from_millis(160),
        "a round trip with 100 ms ± 20 ms each way took {delayed:?}"
    );

    // Switched off, the next round trip is not held (it is faster than the delayed one).
    proxy.set_delay(Duration::ZERO, Duration::ZERO);
    let (_, undelayed) = round_trip(&mut stream, b"pong").await;
    assert!(undelayed < delayed, "{undelayed:?} off, {delayed:?} on");

    // Dropped: the relayed connection is closed.
    drop(proxy);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "still open after the proxy was dropped: {closed:?}"
    );
}

#[tokio::test]
async fn a_refused_target_closes_the_client() {
    // A port nothing listens on (bound, then released).
    let free = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = DelayProxy::start("127.0.0.1:0".parse().unwrap(), free)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let mut buffer = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
}
