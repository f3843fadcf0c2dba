//! Every shader parses and validates with naga (the WGSL front end wgpu uses natively). Needs no GPU.

use bert_wgpu::gpu::Shader;

#[test]
fn every_shader_validates_with_naga() {
    for shader in Shader::all() {
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
    for shader in Shader::all() {
        let web = shader.module_source(true);
        assert_eq!(
            web.starts_with("enable subgroups;"),
            shader.uses_subgroups(),
            "{}",
            shader.file_name()
        );
    }
}
