"""CloudFormation deploys the synthesized template as ``cdk deploy`` would: state machines on the
backend that executes them, with their substitutions, and Lambda and Step Functions versions and aliases."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Any
from urllib.parse import urlparse

from statemachines.saga import PLACEHOLDER
from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once

# --- state machines on the executing backend ------------------------------------------------------


def substitute(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply ``DefinitionSubstitutions`` as CloudFormation does (``${Key}`` placeholders)."""
    # Not string.Template: it would also turn ASL's "$$" (the context object) into "$".
    return PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), definition)


def install_state_machines() -> None:
    """moto's CloudFormation creates and updates state machines on the backend that does not
    execute them, and ignores ``DefinitionSubstitutions``: create and update them where executions
    run, substituted (an update is what ``cdk deploy`` makes of a changed definition)."""
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

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        if properties.get("StateMachineName", original_resource.name) != original_resource.name:
            # A new name replaces the machine: the create and delete above.
            created = cls.create_from_cloudformation_json(
                properties["StateMachineName"], cloudformation_json, account_id, region_name
            )
            cls.delete_from_cloudformation_json(
                original_resource.arn, cloudformation_json, account_id, region_name
            )
            return created
        definition = properties.get("DefinitionString", "")
        if not isinstance(definition, str):
            definition = json.dumps(definition)
        backend = get_backend(account_id, region_name)
        machine = backend.update_state_machine(
            original_resource.arn,
            definition=substitute(definition, properties.get("DefinitionSubstitutions", {})),
            role_arn=properties.get("RoleArn"),
        )
        backend.tagger.tag_resource(machine.arn, cfn_to_api_tags(properties.get("Tags", [])))
        return machine

    replace(StateMachine, "create_from_cloudformation_json", classmethod(create))
    replace(StateMachine, "delete_from_cloudformation_json", classmethod(delete))
    replace(StateMachine, "update_from_cloudformation_json", classmethod(update))


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


# --- change sets, as `cdk deploy` drives them ----------------------------------------------------
def install_change_sets() -> None:
    """``cdk deploy`` into ``stepsaga up``'s endpoint: the change set calls it makes and the update
    they apply, each gap bridged below (docs/FIDELITY.md has the table). First the lookups: before
    each deploy CDK deletes its change set "if it exists" and waits for it to be gone; AWS answers
    the delete with success when the stack exists, and DescribeChangeSet with ``ChangeSetNotFound``.
    moto's delete and execute raised ``UnboundLocalError`` (an HTML 500) for a change set it does
    not have, and its describe a ``ValidationError`` about a stack named like the change set."""
    if not once("change_sets"):
        return
    from moto.awslambda.models import LambdaFunction, LambdaVersion
    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import CloudFormationError, ValidationError
    from moto.cloudformation.models import CloudFormationBackend, Stack, cloudformation_backends
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import EmptyResult

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFoundException"  # the shape: serialized as ChangeSetNotFound, 404

        def __init__(self, name: str) -> None:
            super().__init__(f"ChangeSet [{name}] does not exist")

    def exists(backend: Any, name: str) -> bool:  # by ARN, or by name as moto looks them up
        return name in backend.change_sets or any(
            change_set.change_set_name == name for change_set in backend.change_sets.values()
        )

    def delete_change_set(self: Any) -> Any:
        name = self._get_param("ChangeSetName")
        backend = self.cloudformation_backend
        if exists(backend, name):
            backend.delete_change_set(change_set_name=name)
        elif self._get_param("StackName"):
            backend.get_stack(self._get_param("StackName"))  # ValidationError if there is no stack
        return EmptyResult()

    describe, execute = CloudFormationBackend.describe_change_set, CloudFormationBackend.execute_change_set

    def describe_change_set(self: Any, change_set_name: str) -> Any:
        if not exists(self, change_set_name):
            raise ChangeSetNotFound(change_set_name)
        return describe(self, change_set_name)

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        if not exists(self, change_set_name):
            raise ChangeSetNotFound(change_set_name)
        execute(self, change_set_name, stack_name)

    original_template_from_url = CloudFormationResponse._get_stack_from_s3_url

    def template_from_url(self: Any, template_url: str) -> str:
        """CDK names the template it uploaded by the S3 endpoint it used: with ``AWS_ENDPOINT_URL``
        that is ``http://127.0.0.1:<port>/<bucket>/<key>``, path-style. moto reads only
        ``localhost`` URLs path-style and took ``127`` for the bucket."""
        parts = urlparse(template_url)
        try:
            ipaddress.ip_address(parts.hostname or "")
        except ValueError:
            return str(original_template_from_url(self, template_url))
        from moto.s3.models import s3_backends

        bucket, key = parts.path.lstrip("/").split("/", 1)
        found = s3_backends[self.current_account][self.partition].get_object(bucket, key)
        if found is None:  # no such key
            raise ValidationError(message=f"TemplateURL {template_url} names no object")
        return str(found.value.decode("utf-8"))

    def stack_parameters(self: Any) -> dict[str, Any]:
        """The values given, which for an SSM-typed parameter (CDK's ``BootstrapVersion``) is its
        path: ``UsePreviousValue`` re-resolves that path. moto passed on the resolved value
        ("30") and then looked it up as a path (``AttributeError`` on ``None``)."""
        resources = self.resource_map
        given = dict(resources.resolved_parameters)
        for key, slot in resources._template.get("Parameters", {}).items():
            if slot.get("Type", "").startswith("AWS::SSM::Parameter::"):
                given[key] = resources.input_parameters.get(key, slot.get("Default"))
        return given

    update_function = LambdaFunction.update_from_cloudformation_json

    def update_lambda(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        """Updated as created: moto's create ignores ``Layers`` (the Powertools layer is AWS's, not
        in moto), its update looked them up and failed the stack with ``ResourceNotFoundException``."""
        properties = {k: v for k, v in cloudformation_json["Properties"].items() if k != "Layers"}
        return update_function.__func__(  # type: ignore[attr-defined]
            cls,
            original_resource,
            new_resource_name,
            {**cloudformation_json, "Properties": properties},
            account_id,
            region_name,
        )

    update_resource = parsing.parse_and_update_resource

    def parse_and_update_resource(
        logical_id: str, resource_json: Any, resources_map: Any, **kwargs: Any
    ) -> Any:
        """A modified resource moto cannot update (a log group, say, whose CDK metadata changed)
        stays as it was: moto put ``None`` in its place, and the next ``Fn::GetAtt`` on it failed
        the update with "references undefined resource"."""
        updated = update_resource(logical_id, resource_json, resources_map, **kwargs)
        return resources_map._parsed_resources.get(logical_id) if updated is None else updated

    create_version = LambdaVersion.create_from_cloudformation_json  # install_versions' (it runs first)

    def create_version_after_its_function(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        """In an update moto adds every new resource before it modifies any: the new version of a
        changed function (CDK's ``CurrentVersion``, named by a hash of its configuration) was
        published from the old configuration. Apply the function's update first, as CloudFormation's
        dependency order does (moto's modify pass then applies the same properties again)."""
        name = cloudformation_json["Properties"]["FunctionName"]
        stack = cloudformation_backends[account_id][region_name].stacks.get(kwargs.get("StackId", ""))
        # In create_stack the function was just made from this very template: nothing to apply.
        if stack is not None and stack.status != "CREATE_IN_PROGRESS":
            resources = stack.resource_map
            for logical_id, parsed in list(resources._parsed_resources.items()):
                if isinstance(parsed, LambdaFunction) and parsed.function_name == name:
                    parsing.parse_and_update_resource(
                        logical_id,
                        resources._resource_json_map[logical_id],
                        resources,
                        account_id=account_id,
                        region_name=region_name,
                    )
        return create_version.__func__(  # type: ignore[attr-defined]
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )

    replace(CloudFormationResponse, "delete_change_set", delete_change_set)
    replace(LambdaVersion, "create_from_cloudformation_json", classmethod(create_version_after_its_function))
    replace(parsing, "parse_and_update_resource", parse_and_update_resource)

    delete_resource = parsing.parse_and_delete_resource

    def parse_and_delete_resource(
        resource_name: str, resource_json: Any, account_id: str, region_name: str
    ) -> None:
        """A resource of a type moto skips (an alarm, say) was never created: removing it from the
        template has nothing to delete. moto raised ``AttributeError`` and failed the update."""
        if parsing.resource_class_from_type(resource_json["Type"]) is not None:
            delete_resource(resource_name, resource_json, account_id, region_name)

    replace(parsing, "parse_and_delete_resource", parse_and_delete_resource)
    replace(LambdaFunction, "update_from_cloudformation_json", classmethod(update_lambda))
    replace(Stack, "stack_parameters", property(stack_parameters))
    replace(CloudFormationResponse, "_get_stack_from_s3_url", template_from_url)
    replace(CloudFormationBackend, "describe_change_set", describe_change_set)
    replace(CloudFormationBackend, "execute_change_set", execute_change_set)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
PATCHED = {
    "moto.stepfunctions.models.StateMachine.create_from_cloudformation_json": Pinned(
        "97e9fc1f9bd3ba26ace6f66e81c28f52368fac2e48927dea8f87d6378f33964a",
        "install_state_machines",
        "whether moto now creates machines on the executing backend and applies DefinitionSubstitutions",
    ),
    "moto.stepfunctions.models.StateMachine.update_from_cloudformation_json": Pinned(
        "cb61711c12bd559e1b32e0561cf89f2dc5d05b65bfc4259da910ca02fa193c8a",
        "install_state_machines",
        "whether moto now updates machines on the executing backend, with DefinitionSubstitutions",
    ),
    "moto.stepfunctions.models.StateMachine.delete_from_cloudformation_json": Pinned(
        "9db171388dd2d81b3c4c30b65999c9c07605e037908987a50cf60d1737323cc7",
        "install_state_machines",
        "the resource deletion signature",
    ),
    "moto.awslambda.models.LambdaVersion.create_from_cloudformation_json": Pinned(
        "2d8cc47a37adfbba7c761cf8d3b70de1b9e98c98ecb095b8f321176e46d3c926",
        "install_versions, install_change_sets",
        "whether moto now returns the published version's ARN; that it is still passed the StackId",
    ),
    "moto.cloudformation.responses.CloudFormationResponse.delete_change_set": Pinned(
        "03c00dc6556ad57a0426e419773440a69d517ab85ce5d6c04899ccd805e75e81",
        "install_change_sets",
        "whether deleting a change set that does not exist now succeeds while its stack exists",
    ),
    "moto.cloudformation.models.CloudFormationBackend.describe_change_set": Pinned(
        "dbfe8be95a82d51a228a549013162288787da7714a3cf2bdb43f667ffa312bc3",
        "install_change_sets",
        "whether a missing change set now answers ChangeSetNotFound",
    ),
    "moto.cloudformation.models.CloudFormationBackend.execute_change_set": Pinned(
        "1090cb5b81abc8ff0422a9c1df9b0ea09192550345fbc198b448e9e9a148a050",
        "install_change_sets",
        "whether a missing change set now answers ChangeSetNotFound; its signature",
    ),
    "moto.cloudformation.responses.CloudFormationResponse._get_stack_from_s3_url": Pinned(
        "642af50810d9b6f904ac28d816832560c81dd6d00349da23808a465c2e01e704",
        "install_change_sets",
        "whether moto now reads a TemplateURL on an IP address (the endpoint's) path-style",
    ),
    "moto.cloudformation.responses.CloudFormationResponse.create_change_set": Pinned(
        "9eb833dacc5f8452a291de0312755f10939abf07244b23e6987e60875491cff8",
        "install_change_sets",
        "whether UsePreviousValue still takes Stack.stack_parameters (made the values given, SSM paths)",
        replaced=False,
    ),
    "moto.awslambda.models.LambdaFunction.update_from_cloudformation_json": Pinned(
        "6734c0f3d66e7ceb1d957e3fe383aa7c8a685ee68c9923671a272bb43b6a638b",
        "install_change_sets",
        "whether moto's create now keeps Layers (then the update must too) or its update skips them",
    ),
    "moto.cloudformation.parsing.parse_and_update_resource": Pinned(
        "2ef032cfb9ed3c9bac0abc5c07ee0adf20fbe813d829d6d9bf96e5c39026ecd5",
        "install_change_sets",
        "whether a resource moto cannot update still becomes None; its signature",
    ),
    "moto.cloudformation.parsing.parse_and_delete_resource": Pinned(
        "0ea13cb85d4595bae69a156eca01aab37aeb0bf80620a5a5a37b08de069e2d8e",
        "install_change_sets",
        "whether removing a resource of a type moto skips still raises",
    ),
    "moto.cloudformation.parsing.ResourceMap.update": Pinned(
        "e34b0c357f3c8e357e4e9446843985fd88c0dc52e828d17ef3e08e14dfb88c8a",
        "install_change_sets",
        "whether moto still adds every resource before it modifies any (a new Lambda version is "
        "published after its function's update is applied)",
        replaced=False,
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
