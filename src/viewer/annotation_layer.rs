//! Dense annotation sets on the GPU: a [`DenseLayer`]'s segments, points and fill triangles live
//! in vertex buffers uploaded once per layer (`shaders/annotations.wgsl` expands them to lines and
//! discs of constant screen width), and a frame writes one small uniform block and draws the
//! instance ranges of the cells in view.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use egui_wgpu::wgpu;
use wgpu::util::DeviceExt;

use super::uniform_slots::UniformSlots;

use crate::annotate::dense::{DenseLayer, Segment, Vertex, Visible};
use crate::view::Viewport;

const UNIFORM_BYTES: u64 = 32;

/// A layer's buffers on the GPU.
struct Uploaded {
    version: u64,
    segments: Option<wgpu::Buffer>,
    dots: Option<wgpu::Buffer>,
    fills: Option<wgpu::Buffer>,
}

/// GPU objects, created once per renderer and kept in egui_wgpu's callback resources.
pub struct AnnotationRenderer {
    shadow_pipeline: wgpu::RenderPipeline,
    segment_pipeline: wgpu::RenderPipeline,
    dot_pipeline: wgpu::RenderPipeline,
    fill_pipeline: wgpu::RenderPipeline,
    /// One uniform block per callback in a frame (each pane its own view).
    uniforms: UniformSlots,
    linear_target: bool,
    uploaded: Option<Uploaded>,
}

/// A vertex buffer of `bytes`; none when empty, or when larger than the device allows (then that
/// part of the layer is not drawn and the log says so, rather than a validation error ending
/// the app: about 10 million cell outlines' fills on a 256 MiB limit).
fn buffer(device: &wgpu::Device, label: &str, bytes: &[u8]) -> Option<wgpu::Buffer> {
    let limit = device.limits().max_buffer_size;
    if bytes.len() as u64 > limit {
        tracing::warn!(
            "{label}: {} MB exceed the graphics device's buffer limit of {} MB; not drawn",
            bytes.len() >> 20,
            limit >> 20
        );
        return None;
    }
    (!bytes.is_empty()).then(|| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::VERTEX,
        })
    })
}

impl AnnotationRenderer {
    /// Registers the renderer with eframe's wgpu state (call once at start-up).
    pub fn install(render_state: &egui_wgpu::RenderState) {
        let r = Self::new(&render_state.device, render_state.target_format);
        render_state.renderer.write().callback_resources.insert(r);
    }

    pub fn new(device: &wgpu::Device, target: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("annotations.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/annotations.wgsl").into()),
        });
        let uniforms = UniformSlots::new(
            device,
            "annotation uniforms",
            UNIFORM_BYTES,
            wgpu::ShaderStages::VERTEX_FRAGMENT,
        );
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("annotations"),
            bind_group_layouts: &[Some(uniforms.layout())],
            immediate_size: 0,
        });
        let segment_attributes =
            wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x2, 2 => Uint32, 3 => Uint32];
        let vertex_attributes = wgpu::vertex_attr_array![0 => Float32x2, 1 => Uint32, 2 => Uint32];
        let pipeline = |name: &str, vs: &str, fs: &str, layout: wgpu::VertexBufferLayout| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some(vs),
                    buffers: &[Some(layout)],
                    compilation_options: Default::default(),
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some(fs),
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
            })
        };
        let segments = || wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<Segment>() as u64,
            step_mode: wgpu::VertexStepMode::Instance,
            attributes: &segment_attributes,
        };
        let shadow_pipeline = pipeline(
            "annotation outline shadows",
            "vs_segment",
            "fs_segment_shadow",
            segments(),
        );
        let segment_pipeline = pipeline(
            "annotation outlines",
            "vs_segment",
            "fs_segment",
            segments(),
        );
        let dot_pipeline = pipeline(
            "annotation points",
            "vs_dot",
            "fs_dot",
            wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<Vertex>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &vertex_attributes,
            },
        );
        let fill_pipeline = pipeline(
            "annotation fills",
            "vs_fill",
            "fs_fill",
            wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<Vertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &vertex_attributes,
            },
        );
        Self {
            shadow_pipeline,
            segment_pipeline,
            dot_pipeline,
            fill_pipeline,
            uniforms,
            linear_target: target.is_srgb(),
            uploaded: None,
        }
    }

    fn upload(&mut self, device: &wgpu::Device, layer: &DenseLayer, version: u64) {
        if self.uploaded.as_ref().is_some_and(|u| u.version == version) {
            return;
        }
        self.uploaded = Some(Uploaded {
            version,
            segments: buffer(
                device,
                "annotation outlines",
                bytemuck::cast_slice(&layer.segments.items),
            ),
            dots: buffer(
                device,
                "annotation points",
                bytemuck::cast_slice(&layer.dots.items),
            ),
            fills: buffer(
                device,
                "annotation fills",
                bytemuck::cast_slice(&layer.fills.items),
            ),
        });
    }
}

/// One frame's draw of a dense layer (one per pane showing it).
pub struct AnnotationCallback {
    pub layer: Arc<DenseLayer>,
    /// Identifies the layer's contents: buffers are uploaded again only when it changes.
    pub version: u64,
    pub ranges: Visible,
    pub fill: bool,
    /// Level-0 point at framebuffer pixel (0, 0), and framebuffer pixels per level-0 pixel.
    pub origin: [f64; 2],
    pub zoom: f64,
    pub pixels_per_point: f32,
    /// Layer index of the annotation being edited (drawn elsewhere), if any.
    pub skip: Option<u32>,
    /// The uniform block `prepare` wrote for this callback.
    slot: AtomicUsize,
}

impl AnnotationCallback {
    /// The callback for `view` drawn in a canvas whose top-left is `canvas_min` (points).
    pub fn new(
        layer: Arc<DenseLayer>,
        version: u64,
        ranges: Visible,
        view: &Viewport,
        canvas_min: egui::Pos2,
    ) -> Self {
        let ppp = view.pixels_per_point;
        // Framebuffer pixel (0, 0) shows the slide point at canvas point -canvas_min.
        let origin = view.slide_from_screen([-f64::from(canvas_min.x), -f64::from(canvas_min.y)]);
        Self {
            layer,
            version,
            ranges,
            fill: true,
            origin,
            zoom: view.zoom * ppp,
            pixels_per_point: ppp as f32,
            skip: None,
            slot: AtomicUsize::new(0),
        }
    }

    fn uniform_bytes(&self, screen: [u32; 2], linear_target: bool) -> Vec<u8> {
        let floats = [
            self.origin[0] as f32,
            self.origin[1] as f32,
            self.zoom as f32,
            self.pixels_per_point,
            screen[0] as f32,
            screen[1] as f32,
        ];
        let mut out: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
        for v in [self.skip.unwrap_or(u32::MAX), u32::from(linear_target)] {
            out.extend(v.to_le_bytes());
        }
        out
    }
}

impl egui_wgpu::CallbackTrait for AnnotationCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(r) = resources.get_mut::<AnnotationRenderer>() {
            r.upload(device, &self.layer, self.version);
            let bytes = self.uniform_bytes(screen.size_in_pixels, r.linear_target);
            let slot = r.uniforms.write(device, queue, &bytes);
            self.slot.store(slot, Ordering::Relaxed);
        }
        Vec::new()
    }

    fn paint(
        &self,
        info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(r) = resources.get::<AnnotationRenderer>() else {
            return;
        };
        let Some(group) = r.uniforms.group(self.slot.load(Ordering::Relaxed)) else {
            return;
        };
        let Some(up) = r.uploaded.as_ref().filter(|u| u.version == self.version) else {
            return;
        };
        // The shader maps to framebuffer pixels; egui's scissor keeps it inside the canvas.
        let [w, h] = info.screen_size_px;
        pass.set_viewport(0.0, 0.0, w as f32, h as f32, 0.0, 1.0);
        pass.set_bind_group(0, group, &[]);
        if self.fill
            && let Some(b) = &up.fills
        {
            pass.set_pipeline(&r.fill_pipeline);
            pass.set_vertex_buffer(0, b.slice(..));
            for range in &self.ranges.fills {
                pass.draw(range.clone(), 0..1);
            }
        }
        if let Some(b) = &up.segments {
            pass.set_vertex_buffer(0, b.slice(..));
            for pipeline in [&r.shadow_pipeline, &r.segment_pipeline] {
                pass.set_pipeline(pipeline);
                for range in &self.ranges.segments {
                    pass.draw(0..6, range.clone());
                }
            }
        }
        if let Some(b) = &up.dots {
            pass.set_pipeline(&r.dot_pipeline);
            pass.set_vertex_buffer(0, b.slice(..));
            for range in &self.ranges.dots {
                pass.draw(0..6, range.clone());
            }
        }
    }
}
