#!/usr/bin/env bash
# A saga through the AWS CLI alone, against `stepsaga up` (or LocalStack, or AWS: the calls are the
# same). Starts a test-generation saga, waits for its end, prints the states it entered.
#
#   docs/examples/aws-cli-saga.sh <target-url> [saga-id]
#
# ENDPOINT (default http://127.0.0.1:4566) is the AWS endpoint; unset it to use AWS itself.
set -euo pipefail
target_url=${1:?usage: aws-cli-saga.sh <target-url> [saga-id]}
saga_id=${2:-cli-$(date +%s)-$$}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
endpoint=(--endpoint-url "${ENDPOINT:-http://127.0.0.1:4566}")

machine=$(aws "${endpoint[@]}" stepfunctions list-state-machines \
  --query "stateMachines[?name=='StepSaga-test-generation'].stateMachineArn" --output text)
input=$(printf '{"request": {"project": "acme", "target_url": "%s", "user_stories": ["Open / and see \\"Welcome to Acme\\""]}}' "$target_url")
execution=$(aws "${endpoint[@]}" stepfunctions start-execution --state-machine-arn "$machine" \
  --name "$saga_id" --input "$input" --query executionArn --output text)
echo "started $execution"

status=RUNNING
for _ in $(seq 600); do
  status=$(aws "${endpoint[@]}" stepfunctions describe-execution --execution-arn "$execution" \
    --query status --output text)
  [ "$status" != RUNNING ] && break
  sleep 0.2
done
echo "status $status"
echo "states $(aws "${endpoint[@]}" stepfunctions get-execution-history --execution-arn "$execution" \
  --query 'events[?type==`TaskStateEntered` || type==`MapStateEntered`].stateEnteredEventDetails.name' \
  --output text)"
