"""CloudFormation deploys the synthesized template as ``cdk deploy`` would: state machines on the
backend that executes them, with their substitutions, and Lambda and Step Functions versions and aliases."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from statemachines.saga import PLACEHOLDER
from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once

# --- state machines on the executing backend ------------------------------------------------------


def substitute(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply ``DefinitionSubstitutions`` as CloudFormation does (``${Key}`` placeholders)."""
    # Not string.Template: it would also turn ASL's "$$" (the context object) into "$".
    return PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), definition)


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

    replace(StateMachine, "create_from_cloudformation_json", classmethod(create))
    replace(StateMachine, "delete_from_cloudformation_json", classmethod(delete))


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

    replace(LambdaVersion, "create_from_cloudformation_json", classmethod(create_lambda_version))
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

    replace(StateMachine, "has_cfn_attr", classmethod(has_cfn_attr))
    replace(StateMachine, "get_cfn_attribute", get_cfn_attribute)

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

    replace(StepFunctionsParserBackend, "start_execution", start_execution)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
PATCHED = {
    "moto.stepfunctions.models.StateMachine.create_from_cloudformation_json": Pinned(
        "97e9fc1f9bd3ba26ace6f66e81c28f52368fac2e48927dea8f87d6378f33964a",
        "install_state_machines",
        "whether moto now creates machines on the executing backend and applies DefinitionSubstitutions",
    ),
    "moto.stepfunctions.models.StateMachine.delete_from_cloudformation_json": Pinned(
        "9db171388dd2d81b3c4c30b65999c9c07605e037908987a50cf60d1737323cc7",
        "install_state_machines",
        "the resource deletion signature",
    ),
    "moto.awslambda.models.LambdaVersion.create_from_cloudformation_json": Pinned(
        "2d8cc47a37adfbba7c761cf8d3b70de1b9e98c98ecb095b8f321176e46d3c926",
        "install_versions",
        "whether moto now returns the published version's ARN",
    ),
    "moto.stepfunctions.models.StateMachine.has_cfn_attr": Pinned(
        "06f7f8983c54eddce5a8005b623d0635f01fb3a52468941fc084c1f98ed3bd1b",
        "install_versions",
        "the attributes moto answers (StateMachineRevisionId, Arn)",
    ),
    "moto.stepfunctions.models.StateMachine.get_cfn_attribute": Pinned(
        "de60b705bd0aa1f7af68dabf6f41bc44861ba3299fee08a84c3e4b20bbd335ad",
        "install_versions",
        "the attributes moto answers (StateMachineRevisionId, Arn)",
    ),
    "moto.stepfunctions.parser.models.StepFunctionsParserBackend.start_execution": Pinned(
        "0f8d9dd57baf0c2803dda23c5250b1c787a4a1a3d05239cafbddff1ef905be3a",
        "install_versions, install_execution_names",
        "whether moto now starts an execution from an alias ARN, or names an unnamed one; its signature",
    ),
}
