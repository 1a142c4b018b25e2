"""CloudFormation deploys the synthesized template as ``cdk deploy`` would: state machines on the
backend that executes them, with their substitutions, and Lambda and Step Functions versions and aliases."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from stepsaga.embedded.patches.once import once

# --- state machines on the executing backend ------------------------------------------------------
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def substitute(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply ``DefinitionSubstitutions`` as CloudFormation does (``${Key}`` placeholders)."""
    # Not string.Template: it would also turn ASL's "$$" (the context object) into "$".
    return _PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), definition)


def install_state_machines() -> None:
    """moto's CloudFormation creates state machines on the backend that does not execute them,
    and ignores ``DefinitionSubstitutions``: create them where executions run, substituted."""
    if not once("cfn"):
        return
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend
    from moto.stepfunctions.utils import cfn_to_api_tags

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString", "")
        if not isinstance(definition, str):
            definition = json.dumps(definition)
        definition = substitute(definition, properties.get("DefinitionSubstitutions", {}))
        return get_backend(account_id, region_name).create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
            sm_type=properties.get("StateMachineType", "STANDARD"),
            loggingConfiguration=None,
            tracingConfiguration=None,
        )

    def delete(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        get_backend(account_id, region_name).delete_state_machine(resource_name)

    StateMachine.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    StateMachine.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[method-assign,assignment]


# --- versions and aliases -------------------------------------------------------------------------
def install_versions() -> None:
    """moto's CloudFormation publishes Lambda versions but returns no ARN for them, and knows
    no Step Functions versions or aliases. Model all three, so the template that pins code
    versions and a ``live`` alias deploys unchanged; StartExecution accepts the alias ARN."""
    if not once("versions"):
        return
    from moto.awslambda.models import LambdaVersion
    from moto.awslambda.models import get_backend as lambda_backend
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import get_backend

    def create_lambda_version(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        function = lambda_backend(account_id, region_name).publish_version(
            cloudformation_json["Properties"]["FunctionName"]
        )
        assert function is not None
        version = LambdaVersion({"Version": function.version})  # type: ignore[abstract]
        version.arn = function.function_arn  # type: ignore[attr-defined]  # already qualified: ...:function:name:N
        return version

    LambdaVersion.create_from_cloudformation_json = classmethod(create_lambda_version)  # type: ignore[method-assign,assignment]
    LambdaVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]

    class ArnResource:
        """Ref and GetAtt Arn both answer the resource's ARN."""

        def __init__(self, arn: str) -> None:
            self.arn = arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @property
        def physical_resource_id(self) -> str:
            return self.arn

    # Direct subclasses of CloudFormationModel: that is how moto finds resource types.
    class StateMachineVersionModel(ArnResource, CloudFormationModel):
        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::StepFunctions::StateMachineVersion"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            machine = get_backend(account_id, region_name).describe_state_machine(
                properties["StateMachineArn"]
            )
            machine.publish(properties.get("Description"))
            assert machine.latest_version is not None
            return cls(machine.latest_version.arn)

    class StateMachineAliasModel(ArnResource, CloudFormationModel):
        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::StepFunctions::StateMachineAlias"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            routing = [
                {"stateMachineVersionArn": r["StateMachineVersionArn"], "weight": int(r["Weight"])}
                for r in properties["RoutingConfiguration"]
            ]
            alias = get_backend(account_id, region_name).create_state_machine_alias(
                properties["Name"], routing, properties.get("Description")
            )
            return cls(alias.arn)

    from moto.stepfunctions.models import StateMachine

    has_attr, get_attr = StateMachine.has_cfn_attr, StateMachine.get_cfn_attribute

    def has_cfn_attr(cls: Any, attr: str) -> bool:
        return attr in ("StateMachineRevisionId", "Arn") or has_attr.__func__(cls, attr)  # type: ignore[attr-defined]

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "StateMachineRevisionId":  # a new revision whenever the definition changes
            return (
                getattr(self, "revision_id", None)
                or hashlib.sha256(self.definition.encode()).hexdigest()[:32]
            )
        if attribute_name == "Arn":
            return self.arn
        return get_attr(self, attribute_name)

    StateMachine.has_cfn_attr = classmethod(has_cfn_attr)  # type: ignore[method-assign,assignment]
    StateMachine.get_cfn_attribute = get_cfn_attribute  # type: ignore[method-assign]

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()

    start = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        parts = state_machine_arn.split(":")
        if len(parts) == 8 and not parts[-1].isnumeric():  # an alias (moto executes no versions):
            machine = self.describe_state_machine(":".join(parts[:-1]))
            if parts[-1] in machine.aliases:  # run the machine it routes to, as deployed
                state_machine_arn = machine.arn
        return start(self, state_machine_arn, *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
