//! The normalized JSON (the provenance byproduct) of one real file per format, as insta
//! snapshots: field names, order and values are what a reviewer checks here.

use kiln_reports::{Format, ReportBuilder};
use std::path::PathBuf;

fn normalized(format: Format, file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/reports").join(file);
    let mut b = ReportBuilder::new("snapshot-group", format);
    b.add_file(&format!("reports/{file}"), std::fs::File::open(&path).unwrap());
    let out = b.finish();
    // The compact document is the byproduct; pretty-print it for review, keeping field order.
    let doc: serde_json::Value = serde_json::from_slice(&out.normalized_json()).unwrap();
    let pretty = serde_json::to_string_pretty(&out.normalized()).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&pretty).unwrap(), doc);
    pretty
}

macro_rules! snap {
    ($test:ident, $format:expr, $file:expr) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(normalized($format, $file));
        }
    };
}

snap!(junit_surefire, Format::JunitXml, "mikepenz__action-junit-report__test_results_tests_utils_target_surefire-reports_TEST-action.surefire.report.calc.CalcUtilsTest.xml");
snap!(cucumber_jvm, Format::CucumberJson, "damianszczepanik__cucumber-reporting__src_test_resources_json_timestamped_part2-rerun-failed.json");
snap!(nunit2_ignored, Format::NunitXml, "jenkinsci__nunit-plugin__src_test_resources_hudson_plugins_nunit_NUnit-ignored.xml");
snap!(nunit3_sample, Format::Nunit3Xml, "dorny__test-reporter____tests___fixtures_external_nunit-sample.xml");
snap!(testng_failed_config, Format::TestngXml, "jenkinsci__testng-plugin-plugin__src_test_resources_testng-failed-test-config.xml");
snap!(trx_dotnet, Format::VisualStudioTrx, "dorny__test-reporter____tests___fixtures_dotnet-xunitv3.trx");
snap!(clover_without_package, Format::CloverXml, "codeclimate__test-reporter__formatters_clover_example_without_package.xml");
snap!(cobertura_example, Format::CoberturaXml, "codeclimate__test-reporter__formatters_cobertura_example.xml");
snap!(jacoco_maven, Format::JacocoXml, "2022tgoel__java-jacoco__target_site_jacoco_jacoco.xml");
snap!(simplecov_branches, Format::SimpleCov, "codeclimate__test-reporter__formatters_simplecov_simplecov-branch-example.json");
snap!(lcov_solidity, Format::Lcov, "0xSunday__hardhat-fundme__coverage_lcov.info");
snap!(sarif_gitleaks, Format::Sarif, "gitleaks__gitleaks__testdata_expected_report_sarif_simple.sarif");
