//! Every shader parses and validates with naga (the WGSL front end wgpu uses natively). Needs no GPU.

use bert_wgpu::ops::all_shaders;

#[test]
fn every_shader_validates_with_naga() {
    for shader in all_shaders() {
        let source = shader.module_source(false);
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", shader.file_name(), e.emit_to_string(&source)));
        // Portable shaders validate without the subgroup capability, so they run on any adapter.
        let caps = if shader.uses_subgroups() {
            naga::valid::Capabilities::SUBGROUP
        } else {
            naga::valid::Capabilities::empty()
        };
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
            .subgroup_operations(naga::valid::SubgroupOperationSet::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", shader.file_name(), e.emit_to_string(&source)));
    }
}

#[test]
fn browser_source_enables_subgroups_only_where_used() {
    for shader in all_shaders() {
        let web = shader.module_source(true);
        assert_eq!(
            web.starts_with("enable subgroups;"),
            shader.uses_subgroups(),
            "{}",
            shader.file_name()
        );
    }
}

/// The bind group layout each kernel declares in Rust (`Kernel::bindings`, `Kernel::params`) against the
/// WGSL of its entry point: every global the entry point uses is declared at its binding with the same
/// access (uniform, storage read, storage read_write), the uniform has the size of the Rust parameter
/// struct, and every declared binding is a resource of the module with that
/// access (entry points of one file may give one binding number to different variables).
#[test]
fn every_kernel_declares_the_bindings_its_wgsl_uses() {
    use bert_wgpu::gpu::Access;
    use naga::{AddressSpace, StorageAccess};
    let kernels = bert_wgpu::ops::all_kernels();
    assert!(kernels.len() > 25, "{} kernels", kernels.len());
    for kernel in kernels {
        let what = format!("{} {}", kernel.shader.file_name(), kernel.entry);
        let source = kernel.shader.module_source(false);
        let module = naga::front::wgsl::parse_str(&source).unwrap();
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
            .subgroup_operations(naga::valid::SubgroupOperationSet::all())
            .validate(&module)
            .unwrap();
        let index = module
            .entry_points
            .iter()
            .position(|e| e.name == kernel.entry)
            .unwrap_or_else(|| panic!("{what}: no such entry point"));
        let uses = info.get_entry_point(index);
        let access_of = |space: AddressSpace| match space {
            AddressSpace::Uniform => Some(Access::Uniform),
            AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => Some(Access::ReadWrite),
            AddressSpace::Storage { .. } => Some(Access::Read),
            _ => None,
        };
        let mut resources = std::collections::BTreeMap::new();
        for (handle, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else { continue };
            assert_eq!(binding.group, 0, "{what}: {:?} is not in group 0", var.name);
            let access = access_of(var.space).unwrap_or_else(|| panic!("{what}: {:?}", var.space));
            resources
                .entry(binding.binding as usize)
                .or_insert_with(Vec::new)
                .push(access);
            if uses[handle].is_empty() {
                continue;
            }
            if var.space == AddressSpace::Uniform {
                let wgsl_size = module.types[var.ty].inner.size(module.to_ctx()) as usize;
                assert_eq!(
                    kernel.params, wgsl_size,
                    "{what}: the Rust parameter struct has {} bytes, the WGSL uniform {wgsl_size}",
                    kernel.params
                );
            }
            let declared = kernel.bindings.get(binding.binding as usize);
            assert_eq!(
                declared,
                Some(&access),
                "{what}: binding {} ({:?}) is {access:?} in the WGSL",
                binding.binding,
                var.name
            );
        }
        for (i, access) in kernel.bindings.iter().enumerate() {
            let in_wgsl = resources.get(&i).map_or(&[][..], Vec::as_slice);
            assert!(
                in_wgsl.contains(access),
                "{what}: binding {i} is {access:?} in Rust, {in_wgsl:?} in the WGSL"
            );
        }
    }
}

/// Every WGSL file under `shaders/` is in use: an op's file (named by its module) or a shared prelude.
#[test]
fn every_wgsl_file_is_an_ops_shader_or_a_prelude() {
    let used: Vec<&str> = all_shaders().iter().map(|s| s.file_name()).collect();
    let preludes = ["common.wgsl", "matmul_common.wgsl", "reduce.wgsl"];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".wgsl") {
            files += 1;
            assert!(
                used.contains(&name.as_str()) || preludes.contains(&name.as_str()),
                "shaders/{name} is used by no op"
            );
        }
    }
    assert!(files > 10, "{files} WGSL files");
}
