//! Choosing where the models run: Burn's pure-Rust CPU backend (`flex`) or its
//! wgpu runtime (Vulkan / Metal / DX12 natively, WebGPU in the browser).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A compute backend a user can name (`--device cpu|wgpu`, the page's switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// Burn's `flex` CPU backend (SIMD; rayon threads natively and in the threaded wasm build).
    #[default]
    Cpu,
    /// Burn's wgpu runtime on the default adapter.
    Wgpu,
}

impl BackendKind {
    pub const ALL: [BackendKind; 2] = [BackendKind::Cpu, BackendKind::Wgpu];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(BackendKind::Cpu),
            "wgpu" | "gpu" | "webgpu" => Ok(BackendKind::Wgpu),
            other => Err(format!("unknown device '{other}': expected cpu or wgpu")),
        }
    }
}

/// The CPU backend's device, anywhere (natively and in every wasm build).
pub fn cpu_device() -> Device {
    Device::flex()
}

/// Brings up a device natively. The wgpu runtime is initialised once per
/// process; later calls return the same device.
#[cfg(not(target_family = "wasm"))]
pub fn init_device(kind: BackendKind) -> Result<Device, String> {
    match kind {
        BackendKind::Cpu => Ok(Device::flex()),
        BackendKind::Wgpu => init_wgpu(),
    }
}

#[cfg(all(not(target_family = "wasm"), feature = "wgpu"))]
fn init_wgpu() -> Result<Device, String> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<Result<Device, String>> = OnceLock::new();
    WGPU.get_or_init(|| {
        Device::wgpu_options().init().map_err(|e| {
            format!(
                "no usable wgpu adapter ({e}); on a machine without a GPU install a \
                 software Vulkan driver (Debian: mesa-vulkan-drivers) or use --device cpu"
            )
        })
    })
    .clone()
}

#[cfg(all(not(target_family = "wasm"), not(feature = "wgpu")))]
fn init_wgpu() -> Result<Device, String> {
    Err("this build has no wgpu backend (build with the `wgpu` feature) — use --device cpu".into())
}

/// Brings up a device in the browser: WebGPU when the page's build has it and
/// the browser offers an adapter.
#[cfg(target_family = "wasm")]
pub async fn init_device_async(kind: BackendKind) -> Result<Device, String> {
    match kind {
        BackendKind::Cpu => Ok(Device::flex()),
        BackendKind::Wgpu => init_webgpu().await,
    }
}

#[cfg(all(target_family = "wasm", feature = "webgpu"))]
async fn init_webgpu() -> Result<Device, String> {
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU could not start: {e}"))
}

#[cfg(all(target_family = "wasm", not(feature = "webgpu")))]
async fn init_webgpu() -> Result<Device, String> {
    Err("this build of the page has no WebGPU backend".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.name().parse::<BackendKind>(), Ok(kind));
        }
        assert!("tpu".parse::<BackendKind>().unwrap_err().contains("tpu"));
    }
}
