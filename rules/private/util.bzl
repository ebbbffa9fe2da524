"""Helpers shared by the rules of rules_capslayer. Private."""

load(":providers.bzl", "CapsImageInfo")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")

def check(ctx, problem):
    """Fails analysis with the target's label when a check found a problem.

    The pure checks (validate.bzl, caps_policy.bzl) return None or the text of
    the problem and its fix, without the label; this prefixes it.

    Args:
      ctx: the rule context.
      problem: None, or the problem.
    """
    if problem:
        fail("%s: %s" % (ctx.label, problem))

def run_capslayer(ctx, args, inputs, outputs, mnemonic, progress_message):
    """Runs `capslayer` in an action: the one way every rule calls the tool.

    The executable is the resolved toolchain's (with its runfiles), the
    arguments one `ctx.actions.args()`, and there is no shell: the tool writes
    each output itself, so the action runs on executors without /bin/sh.

    Args:
      ctx: the rule context; the rule must declare `toolchains = [TOOLCHAIN_TYPE]`.
      args: the Args, starting with the subcommand.
      inputs: the Files the tool reads.
      outputs: the Files and directories the tool writes.
      mnemonic: the action's mnemonic, `Caps...`.
      progress_message: the action's progress message (`%{label}`, `%{output}`...).
    """
    ctx.actions.run(
        executable = ctx.toolchains[TOOLCHAIN_TYPE].capslayer_info.files_to_run,
        arguments = [args],
        inputs = inputs,
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
        toolchain = TOOLCHAIN_TYPE,
        # Determinism: no env at all (no SOURCE_DATE_EPOCH, TZ, LANG from the
        # host); the tool gets everything from its arguments.
        env = {},
    )

def rlocation(ctx, file):
    """The path of a file under the runfiles directory, for a launcher script.

    Args:
      ctx: the rule context.
      file: a File in the runfiles.

    Returns:
      `<workspace>/<short_path>`; external files (short_path `../<repo>/...`)
      give `<repo>/...`.
    """
    if file.short_path.startswith("../"):
        return file.short_path[3:]
    return ctx.workspace_name + "/" + file.short_path

def shell_quote(s):
    """Quotes a string for a POSIX shell.

    Args:
      s: any string.

    Returns:
      The string in single quotes, with each `'` written as `'\\''`.
    """
    return "'" + s.replace("'", "'\\''") + "'"

def label_text(label):
    """A label as users write it: `//pkg:name` for the main repository.

    Args:
      label: a Label.

    Returns:
      The label without the leading `@@` of the main repository.
    """
    text = str(label)
    return text[2:] if text.startswith("@@//") else text

def image_launcher_attrs(template, doc):
    """The attributes of a runnable rule that acts on one `caps_image` through a launcher script.

    Args:
      template: the Label of the launcher's template.
      doc: the doc of the `image` attribute.

    Returns:
      A dict of attributes: `image` (mandatory, a `caps_image`) and `_template`.
    """
    return {
        "image": attr.label(
            doc = doc,
            mandatory = True,
            providers = [CapsImageInfo],
        ),
        "_template": attr.label(
            default = template,
            allow_single_file = True,
        ),
    }

def image_launcher(ctx, substitutions, runfiles):
    """Writes the launcher of a rule made with `image_launcher_attrs`: its template, expanded.

    Args:
      ctx: the rule context.
      substitutions: the template's substitutions besides `%{label}` (the image's label).
      runfiles: what the launcher needs at run time.

    Returns:
      The rule's providers: DefaultInfo with the launcher as the executable.
    """
    launcher = ctx.actions.declare_file(ctx.label.name)
    substitutions = dict(substitutions)
    substitutions["%{label}"] = shell_quote(label_text(ctx.attr.image.label))
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = launcher,
        substitutions = substitutions,
        is_executable = True,
    )
    return [DefaultInfo(
        executable = launcher,
        files = depset([launcher]),
        runfiles = runfiles,
    )]
