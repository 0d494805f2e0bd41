//! Uniform blocks for egui paint callbacks that may run more than once a frame (the main pane and
//! a second pane of the same slide): each callback takes the next block in `prepare` and binds it
//! in `paint`, so one pane's view never overwrites the other's before it is drawn.

use std::sync::atomic::{AtomicUsize, Ordering};

use egui_wgpu::wgpu;

/// Blocks kept: more than the callbacks one frame draws. They are taken in turn, so a frame whose
/// `paint` never ran (nothing visible) cannot make the list grow.
const SLOTS: usize = 4;

pub struct UniformSlots {
    label: &'static str,
    bytes: u64,
    layout: wgpu::BindGroupLayout,
    slots: Vec<(wgpu::Buffer, wgpu::BindGroup)>,
    /// The next block this frame's callbacks take; set back to 0 once a frame is painted.
    next: AtomicUsize,
}

impl UniformSlots {
    /// Blocks of `bytes` for a uniform at binding 0 of a group with `visibility`; the group's
    /// layout is [`Self::layout`].
    pub fn new(
        device: &wgpu::Device,
        label: &'static str,
        bytes: u64,
        visibility: wgpu::ShaderStages,
    ) -> Self {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: wgpu::BufferSize::new(bytes),
                },
                count: None,
            }],
        });
        Self {
            label,
            bytes,
            layout,
            slots: Vec::new(),
            next: AtomicUsize::new(0),
        }
    }

    pub fn layout(&self) -> &wgpu::BindGroupLayout {
        &self.layout
    }

    /// In `prepare`: writes `data` to the next block and returns its slot.
    pub fn write(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, data: &[u8]) -> usize {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % SLOTS;
        while self.slots.len() <= slot {
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(self.label),
                size: self.bytes,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(self.label),
                layout: &self.layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: buffer.as_entire_binding(),
                }],
            });
            self.slots.push((buffer, group));
        }
        queue.write_buffer(&self.slots[slot].0, 0, data);
        slot
    }

    /// In `paint`: the bind group of `slot`. Every `prepare` of the frame has run by then, so the
    /// next frame's callbacks start again at the first block.
    pub fn group(&self, slot: usize) -> Option<&wgpu::BindGroup> {
        self.next.store(0, Ordering::Relaxed);
        self.slots.get(slot).map(|(_, g)| g)
    }
}
