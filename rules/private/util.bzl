"""Helpers shared by the rules of rules_capslayer. Private."""

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
