//! wsgate on a NUCLEO-H743ZI: the NestJS sample `16-gateways-ws` served over Ethernet.
//!
//! Board: ST NUCLEO-H743ZI or NUCLEO-H743ZI2: an STM32H743ZI (Cortex-M7F, 2 MiB flash, 1 MiB RAM)
//! with a LAN8742A PHY on RMII and an RJ45 jack, programmed and powered over its on-board
//! ST-LINK. The address comes from DHCP; the firmware logs it over defmt (RTT):
//!
//! ```text
//! cd examples/firmware && cargo run --release    # needs probe-rs and the board
//! INFO  wsgate: http://192.168.1.23/ (4 slots)
//! ```
//!
//! Then open `http://<address>/` in a browser: the control page tries the `events` gateway
//! on `/` and the `chat` gateway on `/chat` (the gateways and the page are
//! `examples/shared/events.rs`, the same file the host examples run).
//!
//! Layout: `main` brings up the clocks, the Ethernet MAC and PHY, embassy-net with DHCP and
//! its runner task, then the serving tasks of the variant selected by a cargo feature (see
//! `Cargo.toml`; `size.sh` builds each one to measure what wsgate adds): `full` (the
//! default) runs `SLOTS + 1` `run_slot` tasks: `SLOTS` clients at once, and one more task
//! that answers `503 Service Unavailable` to a client beyond them.
#![no_std]
#![no_main]

use defmt::{info, unwrap, warn};
use embassy_executor::Spawner;
use embassy_net::{Runner, StackResources};
use embassy_stm32::eth::{Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::{Config, bind_interrupts, eth};
use static_cell::StaticCell;
use {defmt_rtt as _, panic_probe as _};

#[cfg(feature = "baseline")]
#[path = "echo.rs"]
mod serve;
#[cfg(feature = "frames")]
#[path = "frames.rs"]
mod serve;
#[cfg(feature = "dispatch")]
#[path = "dispatch.rs"]
mod serve;
#[cfg(any(feature = "adapter", feature = "full"))]
#[path = "adapter.rs"]
mod serve;
#[cfg(feature = "peer")]
#[path = "peer.rs"]
mod serve;

/// The gateways and the control page of the NestJS sample, shared with the host examples.
#[cfg(feature = "full")]
#[path = "../../shared/events.rs"]
mod events;

const VARIANTS: usize = cfg!(feature = "full") as usize
    + cfg!(feature = "baseline") as usize
    + cfg!(feature = "frames") as usize
    + cfg!(feature = "dispatch") as usize
    + cfg!(feature = "adapter") as usize
    + cfg!(feature = "peer") as usize;
const _: () = assert!(
    VARIANTS == 1,
    "enable exactly one of the features full, baseline, frames, dispatch, adapter, peer \
     (with --no-default-features for any but full)"
);

/// TCP port of the page and both gateways: 80, so the page is `http://<address>/`.
pub const PORT: u16 = 80;
/// Clients served at once.
pub const SLOTS: usize = 4;
/// Serving tasks: one per slot and one that answers 503 beyond them.
pub const TASKS: usize = SLOTS + 1;

/// Receive and transmit buffers of each task's TCP socket (embassy-net).
pub const SOCKET_RX: usize = 1024;
/// See [`SOCKET_RX`].
pub const SOCKET_TX: usize = 1024;
/// Each task's read buffer (socket to wsgate) and write buffer (wsgate to socket).
pub const READ_BUF: usize = 512;
/// See [`READ_BUF`].
pub const WRITE_BUF: usize = 1024;
/// wsgate's buffers per slot: the largest message (and request head), and the frames
/// queued for one client.
pub const RX: usize = 2048;
/// See [`RX`].
pub const TX: usize = 2048;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<RNG>;
});

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

/// Ethernet DMA descriptors and packet buffers: 4 to send, 4 to receive.
static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
/// One socket per serving task, and one for DHCP.
static NET: StaticCell<StackResources<{ TASKS + 1 }>> = StaticCell::new();

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Milliseconds since boot: the clock wsgate's timers are given.
#[cfg(not(any(feature = "baseline", feature = "peer")))]
pub fn now_ms() -> u64 {
    embassy_time::Instant::now().as_millis()
}

/// The gateway of the `dispatch` and `adapter` variants: `/` with one handler, `echo`, that
/// answers `{"event":"echo","data":<data>}`.
#[cfg(any(feature = "dispatch", feature = "adapter"))]
pub fn echo_gateway() -> wsgate::Gateway<(), 1> {
    let mut gateway = wsgate::Gateway::new("/", ());
    // One name in a table of one: this cannot fail.
    let _ = gateway.on("echo", |_, cx, data| Ok(cx.reply_raw("echo", data.json())?));
    gateway
}

/// 400 MHz from the internal 64 MHz oscillator (the NUCLEO's 8 MHz MCO from the ST-LINK
/// would do as well), HSI48 for the RNG.
fn clocks() -> Config {
    use embassy_stm32::rcc::{
        AHBPrescaler, APBPrescaler, HSIPrescaler, Pll, PllDiv, PllMul, PllPreDiv, PllSource,
        Sysclk, VoltageScale,
    };
    let mut config = Config::default();
    let rcc = &mut config.rcc;
    rcc.hsi = Some(HSIPrescaler::DIV1);
    rcc.csi = true;
    rcc.hsi48 = Some(Default::default());
    // 64 MHz / 4 * 50 / 2 = 400 MHz.
    rcc.pll1 = Some(Pll {
        source: PllSource::HSI,
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL50,
        fracn: None,
        divp: Some(PllDiv::DIV2),
        divq: None,
        divr: None,
    });
    rcc.sys = Sysclk::PLL1_P;
    rcc.ahb_pre = AHBPrescaler::DIV2;
    rcc.apb1_pre = APBPrescaler::DIV2;
    rcc.apb2_pre = APBPrescaler::DIV2;
    rcc.apb3_pre = APBPrescaler::DIV2;
    rcc.apb4_pre = APBPrescaler::DIV2;
    rcc.voltage_scale = VoltageScale::Scale1;
    config
}

/// A locally administered unicast MAC derived from the chip's 96-bit unique id, so two
/// boards on one network differ.
fn mac_address() -> [u8; 6] {
    let uid = embassy_stm32::uid::uid();
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    for (i, byte) in uid.iter().enumerate() {
        if let Some(m) = mac.get_mut(1 + i % 5) {
            *m ^= byte.rotate_left(i as u32);
        }
    }
    mac
}

#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    let p = embassy_stm32::init(clocks());

    let mut seed = [0u8; 8];
    Rng::new(p.RNG, Irqs).fill_bytes(&mut seed);

    // NUCLEO-H743ZI(2) RMII wiring (user manuals UM1974, UM2407): the PHY's 50 MHz reference clock on PA1, MDIO on
    // PA2 and MDC on PC1 (station management), CRS_DV PA7, RXD0 PC4, RXD1 PC5, TXD0 PG13,
    // TXD1 PB13, TX_EN PG11. The PHY's address is found by scanning the MDIO bus.
    let device: Device = Ethernet::new(
        PACKETS.init(PacketQueue::new()),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        mac_address(),
        p.ETH_SMA,
        p.PA2,
        p.PC1,
    );

    let config = embassy_net::Config::dhcpv4(Default::default());
    let (stack, runner) = embassy_net::new(
        device,
        config,
        NET.init(StackResources::new()),
        u64::from_le_bytes(seed),
    );
    spawner.spawn(unwrap!(net_task(runner)));
    serve::spawn(spawner, stack);

    loop {
        stack.wait_config_up().await;
        if let Some(v4) = stack.config_v4() {
            info!("wsgate: http://{}/ ({} slots)", v4.address.address(), SLOTS);
        }
        stack.wait_config_down().await;
        warn!("network down; waiting for DHCP");
    }
}
