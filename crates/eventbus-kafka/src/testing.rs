//! A real Kafka-protocol broker for tests: tansu with in-memory storage, started once per test
//! process on a free port, stopped and started again in place for restart checks, and killed
//! with the test process. The binary comes from `COMPTOIR_TEST_TANSU`, else
//! `$HOME/.cache/comptoir/tools/bin/tansu` (`scripts/test.sh` installs it there).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const INSTALL: &str = "cargo install tansu --features dynostore --root $HOME/.cache/comptoir/tools --locked";
const STARTUP: Duration = Duration::from_secs(30);

/// The tansu broker of this test binary.
pub struct Broker {
    address: SocketAddr,
    keeper: std::sync::Mutex<mpsc::Sender<Order>>,
}

/// What the keeper thread is asked to do, and where it answers (with what went wrong, if anything).
type Order = (Want, mpsc::Sender<Result<(), String>>);

enum Want {
    Running,
    Stopped,
}

/// The broker, started on first use.
pub fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(Broker::launch)
}

impl Broker {
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Kills the broker; returns once its port refuses connections. Its data is gone (memory).
    pub fn stop(&self) {
        self.ask(Want::Stopped);
    }

    /// Starts the broker again on the same port; returns once it accepts connections.
    pub fn start(&self) {
        self.ask(Want::Running);
    }

    fn ask(&self, want: Want) {
        let (done, answer) = mpsc::channel();
        self.keeper.lock().unwrap().send((want, done)).expect("the tansu keeper runs for the whole test binary");
        if let Err(problem) = answer.recv().expect("the tansu keeper answers") {
            panic!("{problem}");
        }
    }

    fn launch() -> Broker {
        let binary = tansu_binary();
        let address = free_port();
        let log = std::env::temp_dir().join(format!("comptoir-tansu-{}.log", address.port()));
        let (keeper, orders) = mpsc::channel::<Order>();
        // The broker is spawned by a thread that lives as long as the test process, with a
        // parent-death signal: when the test binary exits, however it exits, the broker dies.
        std::thread::Builder::new()
            .name("tansu-keeper".into())
            .spawn(move || {
                let mut child: Option<Child> = None;
                for (want, done) in orders {
                    let outcome = match want {
                        Want::Stopped => {
                            if let Some(mut running) = child.take() {
                                let _ = running.kill();
                                let _ = running.wait();
                            }
                            wait_until_stopped(address, &log)
                        }
                        Want::Running if child.is_some() => Ok(()),
                        Want::Running => spawn(&binary, address, &log).map(|running| child = Some(running)),
                    };
                    let _ = done.send(outcome);
                }
            })
            .expect("start the tansu keeper thread");
        let broker = Broker { address, keeper: std::sync::Mutex::new(keeper) };
        broker.start();
        broker
    }
}

fn tansu_binary() -> PathBuf {
    let binary = match std::env::var_os("COMPTOIR_TEST_TANSU") {
        Some(path) => PathBuf::from(path),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/comptoir/tools/bin/tansu")
        }
    };
    assert!(
        binary.is_file(),
        "The Kafka tests need tansu (a Kafka-protocol broker) at {}, and it is missing. \
         Install it with `{INSTALL}` (about 15 minutes), or point COMPTOIR_TEST_TANSU at a tansu binary.",
        binary.display()
    );
    binary
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    listener.local_addr().unwrap()
}

fn spawn(binary: &Path, address: SocketAddr, log: &Path) -> Result<Child, String> {
    let url = format!("tcp://{address}");
    let output = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/", "--cluster-id", "comptoir-tests"])
        .stdin(Stdio::null())
        .stdout(output.try_clone().map_err(|e| e.to_string())?)
        .stderr(output);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start tansu ({}): {e}; install it with `{INSTALL}`", binary.display()))?;
    let deadline = Instant::now() + STARTUP;
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("tansu exited ({status}) before listening on {address}; its log: {}", log.display()));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("tansu is not listening on {address} after {STARTUP:?}; its log: {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child)
}

fn wait_until_stopped(address: SocketAddr, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP;
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
        if Instant::now() > deadline {
            return Err(format!("tansu on {address} did not stop; its log: {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
