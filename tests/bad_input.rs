//! Bad probes and bad captures are typed errors that say what is wrong, never panics.

use burn::tensor::{Device, Tensor};
use burn_lpi::attribution::{FfnCapture, GatedLpiConfig};
use burn_lpi::models::{MoeConfig, Transformer, TransformerConfig};
use burn_lpi::{Attributable, AttributionError, ProbeBatch};

fn model(moe: Option<MoeConfig>) -> Transformer {
    let device = Device::flex();
    device.seed(9);
    TransformerConfig::new(40, 16, 2, 2, 12, 8)
        .with_moe(moe)
        .init(&device)
}

fn probes() -> ProbeBatch {
    ProbeBatch::from_prompts(vec![vec![1, 2, 3], vec![4, 5]], vec![6, 7]).unwrap()
}

#[test]
fn malformed_batches_are_rejected_with_the_probe_at_fault() {
    assert_eq!(
        ProbeBatch::from_prompts(vec![], vec![]),
        Err(AttributionError::EmptyBatch)
    );
    assert_eq!(
        ProbeBatch::from_prompts(vec![vec![1], vec![]], vec![1, 2]),
        Err(AttributionError::EmptyPrompt { probe: 1 })
    );
    assert_eq!(
        ProbeBatch::new(vec![vec![1, 2, 3]], vec![3], vec![1]),
        Err(AttributionError::PositionOutOfRange {
            probe: 0,
            position: 3,
            len: 3
        })
    );
    assert!(matches!(
        ProbeBatch::new(vec![vec![1]], vec![0, 0], vec![1]),
        Err(AttributionError::LengthMismatch {
            prompts: 1,
            positions: 2,
            targets: 1
        })
    ));
    let message = ProbeBatch::new(vec![vec![1, 2, 3]], vec![7], vec![1])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("probe 0") && message.contains("position 7"),
        "{message}"
    );
}

#[test]
fn probes_that_do_not_fit_the_model_are_rejected_before_it_runs() {
    let device = Device::flex();
    let model = model(None);
    let lpi = GatedLpiConfig::new().init();
    let target_out = ProbeBatch::from_prompts(vec![vec![1, 2], vec![3]], vec![5, 40]).unwrap();
    assert_eq!(
        lpi.attribute(&model, &target_out, &device).unwrap_err(),
        AttributionError::TokenOutOfVocabulary {
            probe: 1,
            what: "target",
            token: 40,
            vocab: 40
        }
    );
    let prompt_out = ProbeBatch::from_prompts(vec![vec![1, 99]], vec![5]).unwrap();
    assert!(matches!(
        lpi.attribute(&model, &prompt_out, &device),
        Err(AttributionError::TokenOutOfVocabulary {
            what: "prompt",
            token: 99,
            ..
        })
    ));
    let too_long = ProbeBatch::from_prompts(vec![vec![1; 9]], vec![5]).unwrap();
    assert_eq!(
        lpi.attribute(&model, &too_long, &device).unwrap_err(),
        AttributionError::PromptTooLong {
            probe: 0,
            len: 9,
            context: 8
        }
    );
}

#[test]
fn a_capture_that_does_not_match_the_model_names_the_site() {
    let device = Device::flex();
    let probes = probes();
    let lpi = GatedLpiConfig::new().init();
    let mut capture = model(None).capture(probes.tokens(&device), probes.positions());
    if let FfnCapture::Dense { write_out, .. } = &mut capture.layers[1].ffn {
        *write_out = write_out.clone().transpose();
    }
    match lpi.attribute_capture(&capture, probes.targets()) {
        Err(AttributionError::ShapeMismatch {
            site,
            expected,
            found,
        }) => {
            assert_eq!(site, "layers.1.ffn.write_out");
            assert_eq!((expected, found), (vec![12, 16], vec![16, 12]));
        }
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    // A capture for another number of probes.
    let capture = model(None).capture(probes.tokens(&device), probes.positions());
    assert!(matches!(
        lpi.attribute_capture(&capture, &[1, 2, 3]),
        Err(AttributionError::ShapeMismatch { .. })
    ));
    // Routing to an expert the layer does not have.
    let mut capture =
        model(Some(MoeConfig::new(3, 2))).capture(probes.tokens(&device), probes.positions());
    if let FfnCapture::Moe { experts, .. } = &mut capture.layers[0].ffn {
        *experts = experts.clone() + 3;
    }
    assert!(matches!(
        lpi.attribute_capture(&capture, probes.targets()),
        Err(AttributionError::InvalidRouting { site, .. }) if site == "layers.0.ffn.experts"
    ));
}

#[test]
fn non_finite_activations_are_an_error_not_a_profile() {
    let device = Device::flex();
    let probes = probes();
    let lpi = GatedLpiConfig::new().init();
    let mut capture =
        model(Some(MoeConfig::new(3, 2))).capture(probes.tokens(&device), probes.positions());
    let [p, d] = capture.layers[1].post_attention.dims();
    let nan = Tensor::<2>::full([p, d], f32::NAN, &device);
    capture.layers[1].post_attention = capture.layers[1].post_attention.clone() + nan;
    assert_eq!(
        lpi.attribute_capture(&capture, probes.targets())
            .unwrap_err(),
        AttributionError::NonFinite {
            site: "layers.1.post_attention".into()
        }
    );
    let mut capture = model(None).capture(probes.tokens(&device), probes.positions());
    capture.final_residual = capture.final_residual.clone() * f32::INFINITY;
    assert!(matches!(
        lpi.attribute_capture(&capture, probes.targets()),
        Err(AttributionError::NonFinite { site }) if site == "final_residual"
    ));
}
