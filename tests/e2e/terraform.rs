//! The Pub/Sub topology in `terraform/` names the same topics and subscriptions as the code.

use atiende_domain::Topic;

#[test]
fn terraform_declares_every_topic_and_subscription_the_code_uses() {
    let pubsub = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../terraform/pubsub.tf"
    ))
    .expect("terraform/pubsub.tf exists");
    for topic in Topic::ALL {
        let topic_key = format!("\"{}\" = {{", topic.name());
        let subscription = format!("subscription = \"{}\"", topic.subscription());
        assert!(
            pubsub.contains(&topic_key),
            "terraform lacks topic {}",
            topic.name()
        );
        assert!(
            pubsub.contains(&subscription),
            "terraform lacks subscription {}",
            topic.subscription()
        );
        let push_path = format!("/pubsub/push/{}", topic.subscription());
        assert_eq!(
            atiende_platform::push::push_path(topic.subscription()),
            push_path
        );
    }
    let variables = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../terraform/variables.tf"
    ))
    .expect("terraform/variables.tf exists");
    for topic in Topic::ALL {
        assert!(
            variables.contains(&format!("/pubsub/push/{}", topic.subscription())),
            "the push endpoint documented for {}",
            topic.subscription()
        );
    }
}
