//! The heatmap overlay on the GPU: the grid of probabilities as a small texture, drawn over the
//! canvas by `shaders/heatmap.wgsl` inside an egui paint callback, with a colour LUT, opacity,
//! threshold and smooth/nearest sampling. One texel per model tile, so the data stays tiny and the
//! overlay lines up with the slide exactly at every zoom (the shader maps each screen pixel to its
//! level-0 point).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use egui_wgpu::wgpu;

use super::uniform_slots::UniformSlots;

use crate::analysis::heatmap::Heatmap;
use crate::colormap::Colormap;
use crate::view::Viewport;

/// How the overlay looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatmapStyle {
    pub visible: bool,
    pub colormap: Colormap,
    pub opacity: f32,
    /// Probabilities below this are not drawn.
    pub threshold: f32,
    pub smooth: bool,
}

impl Default for HeatmapStyle {
    fn default() -> Self {
        Self {
            visible: true,
            colormap: Colormap::Viridis,
            opacity: 0.55,
            // Low scores cover most tissue; hiding them keeps the morphology readable.
            threshold: 0.2,
            smooth: false,
        }
    }
}

/// A heatmap as texels: (value x analysed, analysed) per cell, and a version so the GPU copy is
/// only refreshed when it changes.
pub struct HeatmapTexels {
    pub version: u64,
    pub cols: u32,
    pub rows: u32,
    pub cell_level0: f64,
    pub rg: Vec<u8>,
}

impl HeatmapTexels {
    pub fn from_heatmap(h: &Heatmap, version: u64) -> Self {
        let rg = h
            .values
            .iter()
            .flat_map(|v| match v {
                Some(p) => [(p.clamp(0.0, 1.0) * 255.0).round() as u8, 255],
                None => [0, 0],
            })
            .collect();
        Self {
            version,
            cols: h.cols,
            rows: h.rows,
            cell_level0: h.cell_level0,
            rg,
        }
    }
}

/// GPU objects, created once per renderer and kept in egui_wgpu's callback resources.
pub struct HeatmapRenderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    /// One uniform block per callback in a frame (the main pane and a second pane of the same
    /// slide may both show the heatmap, each with its view and style).
    uniforms: UniformSlots,
    nearest: wgpu::Sampler,
    linear: wgpu::Sampler,
    luts: Vec<(Colormap, wgpu::TextureView)>,
    linear_target: bool,
    /// The uploaded heatmap: its version and one bind group per colour map.
    current: Option<(u64, Vec<(Colormap, wgpu::BindGroup)>)>,
}

const UNIFORM_BYTES: u64 = 48;

impl HeatmapRenderer {
    /// Registers the renderer with eframe's wgpu state (call once at start-up).
    pub fn install(render_state: &egui_wgpu::RenderState) {
        let r = Self::new(
            &render_state.device,
            &render_state.queue,
            render_state.target_format,
        );
        render_state.renderer.write().callback_resources.insert(r);
    }

    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, target: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("heatmap.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/heatmap.wgsl").into()),
        });
        let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let sampler_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
            count: None,
        };
        let uniforms = UniformSlots::new(
            device,
            "heatmap uniforms",
            UNIFORM_BYTES,
            wgpu::ShaderStages::FRAGMENT,
        );
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("heatmap"),
            entries: &[
                texture_entry(0),
                sampler_entry(1),
                sampler_entry(2),
                texture_entry(3),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("heatmap"),
            bind_group_layouts: &[Some(uniforms.layout()), Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("heatmap"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                buffers: &[],
                compilation_options: Default::default(),
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                targets: &[Some(wgpu::ColorTargetState {
                    format: target,
                    // Premultiplied alpha, like egui.
                    blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
                compilation_options: Default::default(),
            }),
            multiview_mask: None,
            cache: None,
        });
        let sampler = |filter| {
            device.create_sampler(&wgpu::SamplerDescriptor {
                label: Some("heatmap"),
                address_mode_u: wgpu::AddressMode::ClampToEdge,
                address_mode_v: wgpu::AddressMode::ClampToEdge,
                mag_filter: filter,
                min_filter: filter,
                ..Default::default()
            })
        };
        let luts = Colormap::EVERY
            .iter()
            .map(|&map| {
                let tex = texture(
                    device,
                    256,
                    1,
                    wgpu::TextureFormat::Rgba8Unorm,
                    "heatmap lut",
                );
                write(queue, &tex, 256, 1, 4, &map.table());
                (map, tex.create_view(&Default::default()))
            })
            .collect();
        Self {
            pipeline,
            layout,
            uniforms,
            nearest: sampler(wgpu::FilterMode::Nearest),
            linear: sampler(wgpu::FilterMode::Linear),
            luts,
            linear_target: target.is_srgb(),
            current: None,
        }
    }

    fn upload(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, data: &HeatmapTexels) {
        if self
            .current
            .as_ref()
            .is_some_and(|(v, _)| *v == data.version)
        {
            return;
        }
        let tex = texture(
            device,
            data.cols,
            data.rows,
            wgpu::TextureFormat::Rg8Unorm,
            "heatmap",
        );
        write(queue, &tex, data.cols, data.rows, 2, &data.rg);
        let view = tex.create_view(&Default::default());
        let groups = self
            .luts
            .iter()
            .map(|(map, lut)| {
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("heatmap"),
                    layout: &self.layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::TextureView(&view),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::Sampler(&self.nearest),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: wgpu::BindingResource::Sampler(&self.linear),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: wgpu::BindingResource::TextureView(lut),
                        },
                    ],
                });
                (*map, group)
            })
            .collect();
        self.current = Some((data.version, groups));
    }
}

fn texture(
    device: &wgpu::Device,
    w: u32,
    h: u32,
    format: wgpu::TextureFormat,
    label: &str,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: w.max(1),
            height: h.max(1),
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

fn write(queue: &wgpu::Queue, tex: &wgpu::Texture, w: u32, h: u32, bpp: u32, data: &[u8]) {
    if w == 0 || h == 0 {
        return;
    }
    queue.write_texture(
        tex.as_image_copy(),
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(w * bpp),
            rows_per_image: Some(h),
        },
        wgpu::Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
    );
}

/// One frame's draw of the overlay.
pub struct HeatmapCallback {
    pub data: Arc<HeatmapTexels>,
    pub style: HeatmapStyle,
    /// Level-0 point at framebuffer pixel (0, 0) and level-0 pixels per framebuffer pixel.
    pub origin: [f64; 2],
    pub scale: f64,
    /// The uniform block `prepare` wrote for this callback.
    slot: AtomicUsize,
}

impl HeatmapCallback {
    /// The callback for `view` drawn in a canvas whose top-left is `canvas_min` (points).
    pub fn new(
        data: Arc<HeatmapTexels>,
        style: HeatmapStyle,
        view: &Viewport,
        canvas_min: egui::Pos2,
    ) -> Self {
        let ppp = view.pixels_per_point;
        // Framebuffer pixel p is canvas point p / ppp - canvas_min: pixel (0, 0) shows the slide
        // point at canvas point -canvas_min.
        let scale = 1.0 / (view.zoom * ppp);
        let origin = view.slide_from_screen([-f64::from(canvas_min.x), -f64::from(canvas_min.y)]);
        Self {
            data,
            style,
            origin,
            scale,
            slot: AtomicUsize::new(0),
        }
    }

    fn uniform_bytes(&self, linear_target: bool) -> Vec<u8> {
        let extent = [
            f64::from(self.data.cols) * self.data.cell_level0,
            f64::from(self.data.rows) * self.data.cell_level0,
        ];
        let floats = [
            self.origin[0] as f32,
            self.origin[1] as f32,
            self.scale as f32,
            self.scale as f32,
            extent[0] as f32,
            extent[1] as f32,
            self.style.opacity,
            self.style.threshold,
        ];
        let mut out: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
        for u in [u32::from(self.style.smooth), u32::from(linear_target), 0, 0] {
            out.extend(u.to_le_bytes());
        }
        out
    }
}

impl egui_wgpu::CallbackTrait for HeatmapCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(r) = resources.get_mut::<HeatmapRenderer>() {
            r.upload(device, queue, &self.data);
            let bytes = self.uniform_bytes(r.linear_target);
            let slot = r.uniforms.write(device, queue, &bytes);
            self.slot.store(slot, Ordering::Relaxed);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(r) = resources.get::<HeatmapRenderer>() else {
            return;
        };
        let Some(uniforms) = r.uniforms.group(self.slot.load(Ordering::Relaxed)) else {
            return;
        };
        let Some((_, groups)) = &r.current else {
            return;
        };
        if let Some((_, group)) = groups.iter().find(|(m, _)| *m == self.style.colormap) {
            pass.set_pipeline(&r.pipeline);
            pass.set_bind_group(0, uniforms, &[]);
            pass.set_bind_group(1, group, &[]);
            pass.draw(0..3, 0..1);
        }
    }
}
