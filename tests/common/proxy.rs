//! A TCP proxy in front of a registry that breaks things on purpose: it cuts the connection
//! once a number of bytes went up (a registry or network that stops in the middle of an
//! upload), optionally refusing every connection after that (a registry that is gone), or
//! answers the first connections `503 Service Unavailable`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Cut the connection carrying the request during which more than `bytes` have gone up
    /// since the proxy started, once; with `then_refuse`, refuse every later connection.
    CutUpload { bytes: u64, then_refuse: bool },
    /// Answer the first `connections` connections 503 and close them.
    Unavailable { connections: usize },
}

struct Shared {
    fault: Fault,
    upstream: String,
    sent: AtomicU64,
    cut: AtomicBool,
    refused: AtomicUsize,
    stop: AtomicBool,
}

pub struct FaultProxy {
    pub addr: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            fault,
            upstream: upstream.to_string(),
            sent: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let shared = accepting.clone();
                std::thread::spawn(move || serve(&shared, client));
            }
        });
        FaultProxy { addr, shared }
    }

    pub fn reference(&self, repository: &str) -> String {
        format!("{}/{repository}", self.addr)
    }

    /// Whether the fault happened.
    pub fn struck(&self) -> bool {
        match self.shared.fault {
            Fault::CutUpload { .. } => self.shared.cut.load(Ordering::SeqCst),
            Fault::Unavailable { .. } => self.shared.refused.load(Ordering::SeqCst) > 0,
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve(shared: &Shared, mut client: TcpStream) {
    match shared.fault {
        Fault::Unavailable { connections } => {
            if shared.refused.fetch_add(1, Ordering::SeqCst) < connections {
                let mut head = [0u8; 4096];
                let _ = client.read(&mut head);
                let _ = client.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
        Fault::CutUpload { then_refuse, .. } => {
            if then_refuse && shared.cut.load(Ordering::SeqCst) {
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
    }
    let Ok(upstream) = TcpStream::connect(&shared.upstream) else {
        return;
    };
    let (Ok(mut upstream_reader), Ok(mut client_writer)) =
        (upstream.try_clone(), client.try_clone())
    else {
        return;
    };
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut upstream_reader, &mut client_writer);
        let _ = client_writer.shutdown(Shutdown::Write);
    });
    let mut upstream_writer = upstream;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let total = shared.sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if let Fault::CutUpload { bytes, .. } = shared.fault
            && total > bytes
            && !shared.cut.swap(true, Ordering::SeqCst)
        {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream_writer.shutdown(Shutdown::Both);
            break;
        }
        if upstream_writer.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = upstream_writer.shutdown(Shutdown::Write);
    let _ = down.join();
}
